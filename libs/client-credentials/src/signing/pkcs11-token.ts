import { X509Certificate } from 'node:crypto';
import { chooseCertificate } from './pkcs11-certificate';
import type { Pkcs11SourceOptions, SignatureAlgorithm } from '../credential.options';
import {
  ck,
  ckrOf,
  type Attribute,
  type Handle,
  type Pkcs11Js,
  type Pkcs11Library,
} from './pkcs11-module';
import { SignerError } from './signer-error';

/* What a PKCS#11 signer finds on its token — the slot, the key, the key's certificate — and how a
   module's failure is reported. */

/** Errors after which the token's sessions, login and handles are gone: open, log in, find again. */
export const LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_REMOVED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_TOKEN_NOT_RECOGNIZED',
]);
/** Certificate objects of one key read at most (a token holds the current one and a renewal). */
const MAX_CERTIFICATES = 16;

/** Errors of a device that may work again without a change of configuration. */
const TRANSIENT = new Set([
  ...LOST,
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_FUNCTION_FAILED',
]);

/** The slot of the token the options name (by label or slot id). */
export function findSlot(
  js: Pkcs11Js,
  library: Pkcs11Library,
  options: Pkcs11SourceOptions,
): Handle {
  const o = options;
  let slots: Handle[];
  try {
    slots = library.C_GetSlotList(true);
  } catch (e) {
    throw pkcs11Failure(js, 'list slots', e);
  }
  const slot = slots.find((s) =>
    o.tokenLabel !== undefined
      ? library.C_GetTokenInfo(s).label.trim() === o.tokenLabel
      : s.readUIntLE(0, Math.min(s.length, 6)) === o.slot,
  );
  if (slot === undefined) {
    const which = o.tokenLabel !== undefined ? `labelled '${o.tokenLabel}'` : `in slot ${o.slot}`;
    // A token may be out of its reader for a moment: worth trying again later.
    throw new SignerError(
      `${o.tokenLabel !== undefined ? 'tokenLabel' : 'slot'}: no token ${which} is present (${slots.length} token(s) seen) — insert it, or check the label (softhsm2-util --show-slots, pkcs11-tool -L)`,
      true,
    );
  }
  return slot;
}

/** The private key the options name (by label or id) on the token of `session`. */
export function findKey(
  js: Pkcs11Js,
  library: Pkcs11Library,
  session: Handle,
  options: Pkcs11SourceOptions,
): Handle {
  const o = options;
  const template: Attribute[] = [
    { type: ck(js, 'CKA_CLASS'), value: ck(js, 'CKO_PRIVATE_KEY') },
    o.keyLabel !== undefined
      ? { type: ck(js, 'CKA_LABEL'), value: o.keyLabel }
      : { type: ck(js, 'CKA_ID'), value: Buffer.from(o.keyId!, 'hex') },
  ];
  const found = findObjects(js, library, session, template);
  const name = o.keyLabel !== undefined ? `labelled '${o.keyLabel}'` : `with id ${o.keyId}`;
  const field = o.keyLabel !== undefined ? 'keyLabel' : 'keyId';
  if (found.length === 0) {
    throw new SignerError(
      `${field}: no private key ${name} on the token — check the label or id (pkcs11-tool -O --login), and that the PIN is the token user's`,
    );
  }
  if (found.length > 1) {
    throw new SignerError(
      `${field}: ${found.length} private keys ${name} on the token — name the key by keyId (its CKA_ID), which is unique`,
    );
  }
  return found[0];
}

/**
 * The certificate of the key, as PEM: of the certificate objects with the key's `CKA_ID` (all of
 * them: a renewal is often imported beside the certificate it replaces), those of the key's public
 * key, then {@link chooseCertificate}: valid now, the latest issued, not one the authority refused
 * (`setAside`, PEM) while another fits.
 */
export function certificateOnToken(
  js: Pkcs11Js,
  library: Pkcs11Library,
  session: Handle,
  key: Handle,
  options: Pkcs11SourceOptions,
  setAside: ReadonlySet<string> = new Set(),
): string {
  let id: Buffer | undefined;
  try {
    const [attr] = library.C_GetAttributeValue(session, key, [{ type: ck(js, 'CKA_ID') }]);
    id = attr?.value as Buffer | undefined;
  } catch (e) {
    throw pkcs11Failure(js, 'read the key', e);
  }
  const template: Attribute[] = [{ type: ck(js, 'CKA_CLASS'), value: ck(js, 'CKO_CERTIFICATE') }];
  if (id !== undefined && id.length > 0) template.push({ type: ck(js, 'CKA_ID'), value: id });
  else if (options.keyLabel !== undefined) {
    template.push({ type: ck(js, 'CKA_LABEL'), value: options.keyLabel });
  }
  const found = findObjects(js, library, session, template, MAX_CERTIFICATES);
  if (found.length === 0) {
    throw new SignerError(
      "certificatePath: the token holds no certificate with the key's id — import it next to the key (pkcs11-tool --write-object cert.der --type cert --id <id>), or set certificatePath",
    );
  }
  const certs = found.map((handle) => {
    const [value] = library.C_GetAttributeValue(session, handle, [{ type: ck(js, 'CKA_VALUE') }]);
    return new X509Certificate(value.value as Buffer);
  });
  if (certs.length === 1) return certs[0].toString();
  // The key's own, if the token tells its public key; else all (the signature check tells a
  // certificate of another key).
  const publicKey = keyPublicKey(js, library, session, key, id);
  const own = publicKey === undefined ? [] : certs.filter((c) => publicKey(c));
  const pem = (c: X509Certificate) => c.toString();
  const chosen = chooseCertificate(own.length > 0 ? own : certs, Date.now(), (c) =>
    setAside.has(pem(c)),
  );
  return pem(chosen!);
}

/**
 * Whether a certificate holds the key's public key: an RSA private key tells its modulus, an EC
 * key's point is on its public key object (same `CKA_ID`). Undefined when the token does not say.
 */
function keyPublicKey(
  js: Pkcs11Js,
  library: Pkcs11Library,
  session: Handle,
  key: Handle,
  id: Buffer | undefined,
): ((cert: X509Certificate) => boolean) | undefined {
  try {
    const [type] = library.C_GetAttributeValue(session, key, [{ type: ck(js, 'CKA_KEY_TYPE') }]);
    const keyType = type?.value as Buffer | number | undefined;
    const rsa =
      (Buffer.isBuffer(keyType) ? keyType.readUIntLE(0, Math.min(keyType.length, 6)) : keyType) ===
      ck(js, 'CKK_RSA');
    if (rsa) {
      const [modulus] = library.C_GetAttributeValue(session, key, [
        { type: ck(js, 'CKA_MODULUS') },
      ]);
      const n = stripZeros(modulus.value as Buffer);
      return (cert) => {
        const jwk = cert.publicKey.export({ format: 'jwk' });
        return jwk.n !== undefined && stripZeros(Buffer.from(jwk.n, 'base64url')).equals(n);
      };
    }
    if (id === undefined || id.length === 0) return undefined;
    const [publicObject] = findObjects(js, library, session, [
      { type: ck(js, 'CKA_CLASS'), value: ck(js, 'CKO_PUBLIC_KEY') },
      { type: ck(js, 'CKA_ID'), value: id },
    ]);
    if (publicObject === undefined) return undefined;
    const [point] = library.C_GetAttributeValue(session, publicObject, [
      { type: ck(js, 'CKA_EC_POINT') },
    ]);
    // The point, uncompressed (04 ‖ x ‖ y), is the end of CKA_EC_POINT (DER OCTET STRING or bare).
    const ecPoint = point.value as Buffer;
    return (cert) => {
      const jwk = cert.publicKey.export({ format: 'jwk' });
      if (jwk.x === undefined || jwk.y === undefined) return false;
      const raw = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x, 'base64url'),
        Buffer.from(jwk.y, 'base64url'),
      ]);
      return ecPoint.length >= raw.length && ecPoint.subarray(-raw.length).equals(raw);
    };
  } catch {
    return undefined;
  }
}

/** A big-endian integer without its leading zero bytes. */
function stripZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** The mechanism that signs a SHA-256 digest with `algorithm` (the digest is computed here). */
export function signMechanism(
  js: Pkcs11Js,
  algorithm: SignatureAlgorithm,
): { mechanism: number; parameter?: Record<string, number> } {
  if (algorithm === 'ES256') return { mechanism: ck(js, 'CKM_ECDSA') };
  if (algorithm === 'RS256') return { mechanism: ck(js, 'CKM_RSA_PKCS') };
  return {
    mechanism: ck(js, 'CKM_RSA_PKCS_PSS'),
    parameter: {
      type: ck(js, 'CK_PARAMS_RSA_PSS'),
      hashAlg: ck(js, 'CKM_SHA256'),
      mgf: ck(js, 'CKG_MGF1_SHA256'),
      saltLen: 32,
    },
  };
}

/**
 * Up to `max` objects matching `template` (two by default: enough to tell that a name is not
 * unique), asked for until the module has no more (it may return fewer than asked per call).
 */
function findObjects(
  js: Pkcs11Js,
  library: Pkcs11Library,
  session: Handle,
  template: Attribute[],
  max = 2,
): Handle[] {
  try {
    library.C_FindObjectsInit(session, template);
    try {
      const found: Handle[] = [];
      while (found.length < max) {
        const next = library.C_FindObjects(session, max - found.length);
        if (next.length === 0) break;
        found.push(...next);
      }
      return found;
    } finally {
      library.C_FindObjectsFinal(session);
    }
  } catch (e) {
    throw pkcs11Failure(js, 'find objects', e);
  }
}

/** A PKCS#11 failure as a SignerError naming the step and the `CKR_…`. */
export function pkcs11Failure(js: Pkcs11Js, what: string, e: unknown): SignerError {
  if (e instanceof SignerError) return e;
  const ckr = ckrOf(js, e);
  const why = ckr ?? (e as Error)?.message?.split('\n')[0] ?? String(e);
  return new SignerError(
    `the PKCS#11 module failed to ${what} (${why}) — check the token and the module's log`,
    ckr === undefined || TRANSIENT.has(ckr),
    { cause: e },
  );
}
