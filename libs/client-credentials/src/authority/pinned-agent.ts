import { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';

/** The code of the error a connection to a pinned endpoint fails with when its certificate is not the pinned one. */
export const PIN_MISMATCH = 'ERR_CERTIFICATE_PIN_MISMATCH';

/** Longest TCP + TLS connect; each request has its own, shorter, deadline on top. */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * A thumbprint as platforms give it (`AB12…`, `ab:12:…`, with spaces): its lower-case hex, or
 * undefined when it is no SHA-1 (40 hex digits) or SHA-256 (64) thumbprint.
 */
export function normalizeThumbprint(value: string): string | undefined {
  const hex = value.replace(/[\s:]/g, '').toLowerCase();
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(hex) ? hex : undefined;
}

/**
 * An undici agent for an endpoint that presents a certificate of its own CA, known by its
 * thumbprint (Service Fabric's token service: `IDENTITY_SERVER_THUMBPRINT`, SHA-1 hex, as MSAL .NET
 * and the Azure SDKs compare it): the public roots and the host name are not checked, the peer
 * certificate's SHA-1 (or SHA-256, for a 64-digit pin) thumbprint is, right after the handshake
 * and before undici writes a byte of the request; any other certificate ends the connection.
 *
 * By hand on undici's `buildConnector` because neither undici nor Node pins a certificate by
 * thumbprint: Node's `checkServerIdentity` runs only after a chain check that this certificate
 * fails, and turning that check off without checking something else would trust anyone.
 * Sessions are not resumed, so every connection shows its certificate.
 */
export function pinnedAgent(thumbprint: string): Agent {
  const pin = normalizeThumbprint(thumbprint);
  const connectTls = buildConnector({
    rejectUnauthorized: false,
    maxCachedSessions: 0,
    timeout: CONNECT_TIMEOUT_MS,
  });
  return new Agent({
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepAliveTimeout: 30_000,
    connect: (options, callback) => {
      if (pin === undefined) {
        callback(
          pinError(
            'IDENTITY_SERVER_THUMBPRINT is not a SHA-1 (40 hex digits) or SHA-256 (64) thumbprint',
          ),
          null,
        );
        return;
      }
      connectTls(options, (err, socket) => {
        if (err !== null) {
          callback(err, null);
          return;
        }
        const problem = mismatch(socket, pin);
        if (problem === undefined) {
          callback(null, socket);
          return;
        }
        socket.destroy();
        callback(pinError(problem), null);
      });
    },
  });
}

/** Why `socket` is not the pinned endpoint, or undefined when it is. */
function mismatch(socket: unknown, pin: string): string | undefined {
  if (!(socket instanceof TLSSocket)) {
    return 'the endpoint is not HTTPS, and IDENTITY_SERVER_THUMBPRINT pins a certificate';
  }
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) return 'the endpoint presented no certificate';
  const sha = pin.length === 40 ? 'SHA-1' : 'SHA-256';
  const presented = (pin.length === 40 ? certificate.fingerprint : certificate.fingerprint256)
    .replace(/:/g, '')
    .toLowerCase();
  if (presented === pin) return undefined;
  return `its certificate's ${sha} thumbprint ${presented.toUpperCase()} is not IDENTITY_SERVER_THUMBPRINT (${pin.toUpperCase()})`;
}

function pinError(message: string): Error {
  return Object.assign(new Error(message), { code: PIN_MISMATCH });
}

/**
 * Whether a connection failed on the endpoint's certificate: Node's and OpenSSL's verify codes
 * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`…) and a pin that does not match.
 */
export function isCertificateFailure(reason: unknown): boolean {
  const code = (reason as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' &&
    (code === PIN_MISMATCH || /CERT|SELF_SIGNED|UNABLE_TO_(?:VERIFY|GET)/.test(code))
  );
}
