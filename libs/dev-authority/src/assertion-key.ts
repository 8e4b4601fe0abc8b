import { createPublicKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import type { CompactJWSHeaderParameters } from 'jose';
import type { AppRecord, CertificateRecord } from './directory';
import { EntraError } from './errors';
import { hexToBase64Url, verifyChain } from './pki';
import type { CryptoKey } from './crypto-types';

/*
 * Which key a certificate's client assertion is verified with: a certificate registered on the app,
 * named by its thumbprint, or a "subject name + issuer" (SNI) certificate the assertion carries,
 * whose chain must lead to the trusted root. What the assertion claims is checked in assertion.ts.
 */

/** What finding a certificate's key needs from the authority. */
export interface CertificateKeyContext {
  app: AppRecord;
  now: Date;
  /** Root of the "trusted subject name + issuer" certificates. */
  sniRoot: X509Certificate;
}

/** The header fields of a client assertion that name its certificate. */
export interface AssertionHeader {
  alg?: string;
  x5t?: string;
  'x5t#S256'?: string;
  x5c?: string[];
}

/** The thumbprint an assertion names (SHA-256 if given, else SHA-1), as uppercase hex. */
export function thumbprintOf(header: AssertionHeader): string {
  const t = header['x5t#S256'] ?? header.x5t;
  return t === undefined ? '' : Buffer.from(t, 'base64url').toString('hex').toUpperCase();
}

/** A registered certificate's verification keys, one per algorithm, prepared on first use. */
const preparedKeys = new WeakMap<
  CertificateRecord,
  { pem: string; byAlg: Map<string, Promise<CryptoKey>> }
>();

/**
 * The key jose verifies a registered certificate's assertion with, for the assertion's `alg`
 * (jose has already refused any other algorithm). Given a KeyObject, jose 6 exports and re-imports
 * it as a WebCrypto key on every call, and the certificate's PEM was parsed on every call too:
 * ~0.4 ms of CPU per request, now once per certificate. Same key, same checks.
 */
function preparedKey(
  cert: CertificateRecord,
): (header: CompactJWSHeaderParameters) => Promise<CryptoKey> {
  return (header) => {
    let entry = preparedKeys.get(cert);
    if (entry === undefined || entry.pem !== cert.certificatePem) {
      entry = { pem: cert.certificatePem, byAlg: new Map() };
      preparedKeys.set(cert, entry);
    }
    let key = entry.byAlg.get(header.alg);
    if (key === undefined) {
      const spki = createPublicKey(cert.certificatePem).export({ type: 'spki', format: 'der' });
      const algorithm =
        header.alg === 'PS256'
          ? { name: 'RSA-PSS', hash: 'SHA-256' }
          : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      key = webcrypto.subtle.importKey('spki', spki, algorithm, false, ['verify']);
      entry.byAlg.set(header.alg, key);
    }
    return key;
  };
}

/** The key of the registered certificate the assertion names, if it is valid now. */
export function registeredKey(
  header: AssertionHeader,
  ctx: CertificateKeyContext,
): (header: CompactJWSHeaderParameters) => Promise<CryptoKey> {
  const s256 = header['x5t#S256'];
  const s1 = header.x5t;
  if (s256 === undefined && s1 === undefined) {
    throw new EntraError(
      700027,
      `Client assertion failed signature validation. [Reason - The key was not found., ` +
        `Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured ` +
        `keys for app Id '${ctx.app.clientId}'.]`,
    );
  }
  const match = (c: CertificateRecord) =>
    (s256 !== undefined && hexToBase64Url(c.thumbprintSha256) === s256) ||
    (s1 !== undefined && hexToBase64Url(c.thumbprintSha1) === s1);
  const cert = ctx.app.certificates.find(match);
  if (cert === undefined) {
    throw new EntraError(
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on ` +
        `application. [Reason - The key was not found., Thumbprint of key used by client: ` +
        `'${thumbprintOf(header)}', Please visit the Azure Portal, Graph Explorer or directly use ` +
        `MS Graph to see configured keys for app Id '${ctx.app.clientId}'.]`,
    );
  }
  if (cert.notAfter < ctx.now || cert.notBefore > ctx.now) {
    throw new EntraError(
      700027,
      `Client assertion contains an invalid signature. [Reason - The key used is expired., ` +
        `Thumbprint of key used by client: '${thumbprintOf(header)}', Found key 'Start=` +
        `${cert.notBefore.toISOString()}, End=${cert.notAfter.toISOString()}']`,
    );
  }
  return preparedKey(cert);
}

/** The key of the SNI certificate the assertion carries, if its subject and chain are trusted. */
export function sniKey(header: AssertionHeader, ctx: CertificateKeyContext): KeyObject {
  let chain: X509Certificate[];
  try {
    chain = (header.x5c ?? []).map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
  } catch {
    throw new EntraError(50027, 'Invalid JWT token. The x5c header could not be parsed.');
  }
  const leaf = chain[0];
  const s256 = header['x5t#S256'];
  const s1 = header.x5t;
  const leafMatches =
    (s256 !== undefined &&
      Buffer.from(leaf.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url') === s256) ||
    (s1 !== undefined &&
      Buffer.from(leaf.fingerprint.replace(/:/g, ''), 'hex').toString('base64url') === s1);
  if (!leafMatches) {
    throw new EntraError(
      700027,
      `Client assertion failed signature validation. [Reason - The thumbprint in the header does ` +
        `not match the first certificate of the x5c chain.]`,
    );
  }
  const subject = leaf.subject.replace(/\n/g, ', ');
  if (!ctx.app.sniSubjects.some((s) => sameSubject(s, leaf.subject))) {
    throw new EntraError(
      700030,
      `Invalid certificate - subject name in certificate is not authorized. ` +
        `SubjectNames/SubjectAlternativeNames (up to 10) in token certificate are: ${subject}`,
    );
  }
  const reason = verifyChain(chain, ctx.sniRoot, ctx.now);
  if (reason !== undefined) {
    throw new EntraError(
      50012,
      `Authentication failed. The certificate chain is not valid: ${reason}. A matching trusted ` +
        `authority policy was not found for the authorized subject name.`,
    );
  }
  return leaf.publicKey;
}

/** Compares a registered subject ("CN=x" or "x") with a certificate subject ("CN=x"). */
export function sameSubject(registered: string, certSubject: string): boolean {
  const norm = (s: string) =>
    s
      .split(/[,\n]/)
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => (p.includes('=') ? p : `CN=${p}`).toLowerCase())
      .sort()
      .join(',');
  return norm(registered) === norm(certSubject);
}
