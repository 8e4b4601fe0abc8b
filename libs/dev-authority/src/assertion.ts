import { createPublicKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  type CompactJWSHeaderParameters,
  type JWTPayload,
} from 'jose';
import type { AppRecord, CertificateRecord } from './directory';
import { EntraError } from './errors';
import { hexToBase64Url, verifyChain } from './pki';
import type { CredentialKind } from './types';
import type { CryptoKey } from './crypto-types';

/** What validating a client assertion needs from the authority. */
export interface AssertionContext {
  app: AppRecord;
  /** Audiences Entra accepts: the tenant's token endpoints. */
  audiences: string[];
  now: Date;
  clockToleranceSeconds: number;
  /** Root of the "trusted subject name + issuer" certificates. */
  sniRoot: X509Certificate;
  /** Signing key of a federated token's issuer, if the authority knows that issuer. */
  federatedKey(issuer: string): CryptoKey | KeyObject | undefined;
  /** App ID URI of a known resource named by application id or URI. */
  resourceUri(audience: string): string | undefined;
}

/** The credential a valid assertion proved. */
export interface AssertionResult {
  kind: CredentialKind;
  jti?: string;
}

interface Header {
  alg?: string;
  x5t?: string;
  'x5t#S256'?: string;
  x5c?: string[];
}

/** Validates a `client_assertion` as Entra does; throws {@link EntraError} on the first failure. */
export async function validateAssertion(
  assertion: string,
  ctx: AssertionContext,
): Promise<AssertionResult> {
  let header: Header;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    throw new EntraError(50027, 'JWT token is invalid or malformed.');
  }
  const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
  // A token whose issuer is not the app itself is a federated credential (workload identity).
  if (payload.iss !== undefined && payload.iss !== ctx.app.clientId) {
    await validateFederated(assertion, payload, ctx);
    return { kind: 'federated', jti };
  }
  const isSni = Array.isArray(header.x5c) && header.x5c.length > 0;
  const key = isSni ? sniKey(header, ctx) : registeredKey(header, ctx);
  try {
    await compactVerify(assertion, key, { algorithms: ASSERTION_ALGORITHMS });
  } catch {
    throw new EntraError(
      700027,
      `Client assertion contains an invalid signature. [Reason - The provided signature value did ` +
        `not match the expected signature value., Thumbprint of key used by client: ` +
        `'${thumbprintOf(header)}']`,
    );
  }
  checkClaims(payload, ctx);
  return { kind: isSni ? 'sni-certificate' : 'certificate', jti };
}

function thumbprintOf(header: Header): string {
  const t = header['x5t#S256'] ?? header.x5t;
  return t === undefined ? '' : Buffer.from(t, 'base64url').toString('hex').toUpperCase();
}

/** The signature algorithms Entra accepts on a certificate's client assertion. */
const ASSERTION_ALGORITHMS = ['RS256', 'PS256'];

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

function registeredKey(
  header: Header,
  ctx: AssertionContext,
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

function sniKey(header: Header, ctx: AssertionContext): KeyObject {
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
function sameSubject(registered: string, certSubject: string): boolean {
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

function checkClaims(payload: JWTPayload, ctx: AssertionContext): void {
  if (payload.iss !== ctx.app.clientId) {
    throw new EntraError(
      700021,
      `Client assertion application identifier doesn't match 'client_id' parameter. Review the ` +
        `documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
  if (payload.sub !== payload.iss) {
    throw new EntraError(50048, 'Subject mismatches Issuer claim in the client assertion.');
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.some((a) => a !== undefined && ctx.audiences.includes(a))) {
    throw new EntraError(
      700023,
      `Client assertion audience claim does not match Realm issuer. Review the documentation at ` +
        `https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
  checkTimes(payload, ctx);
}

function checkTimes(payload: JWTPayload, ctx: AssertionContext): void {
  const now = ctx.now.getTime() / 1000;
  const tolerance = ctx.clockToleranceSeconds;
  const exp = payload.exp;
  const nbf = payload.nbf ?? payload.iat;
  const bad =
    exp === undefined || exp + tolerance < now || (nbf !== undefined && nbf - tolerance > now);
  if (bad) {
    const fmt = (s?: number) => (s === undefined ? 'none' : new Date(s * 1000).toISOString());
    throw new EntraError(
      700024,
      `Client assertion is not within its valid time range. Current time: ${ctx.now.toISOString()}, ` +
        `assertion valid from ${fmt(nbf)}, expiry time of assertion ${fmt(exp)}. Review the ` +
        `documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`,
    );
  }
}

async function validateFederated(
  assertion: string,
  payload: JWTPayload,
  ctx: AssertionContext,
): Promise<void> {
  const issuer = String(payload.iss);
  const subject = String(payload.sub);
  const audiences = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).filter(
    (a): a is string => typeof a === 'string',
  );
  const presented =
    `Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. ` +
    `Assertion Audience: '${audiences.join(',')}'.`;
  const check =
    ' Check your federated identity credential Subject, Audience and Issuer against the presented ' +
    'assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
  // Matching is exact (case-sensitive), as Entra does since 2024.
  const byIssuer = ctx.app.federated.filter((f) => f.issuer === issuer);
  if (byIssuer.length === 0) {
    throw new EntraError(
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. ${presented}${check}`,
    );
  }
  const bySubject = byIssuer.filter((f) => f.subject === subject);
  if (bySubject.length === 0) {
    throw new EntraError(
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}'. ${presented}${check}`,
    );
  }
  // An Entra-issued v2.0 token names its audience by application id: compare by App ID URI too.
  const presentedUris = audiences.flatMap((a) => [a, ctx.resourceUri(a) ?? a]);
  if (!bySubject.some((f) => presentedUris.includes(f.audience))) {
    throw new EntraError(
      700212,
      `No matching federated identity record found for presented assertion audience '${audiences.join(',')}'. ${presented}${check}`,
    );
  }
  const key = ctx.federatedKey(issuer);
  if (key === undefined) {
    throw new EntraError(
      50027,
      `Invalid JWT token. Unable to retrieve the signing keys of issuer '${issuer}'.`,
    );
  }
  try {
    await compactVerify(assertion, key, { algorithms: ['RS256'] });
  } catch {
    throw new EntraError(
      50027,
      `Invalid JWT token. External ID token from issuer '${issuer}' failed signature verification.`,
    );
  }
  checkTimes(payload, ctx);
}
