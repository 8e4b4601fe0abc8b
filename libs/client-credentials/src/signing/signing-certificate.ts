import { constants, createHash, KeyObject, verify, X509Certificate } from 'node:crypto';
import type { SignatureAlgorithm } from '../credential.options';

/** The public half of a signing key, as the assertions of its certificate name it. */
export interface SigningCertificate {
  readonly publicKey: KeyObject;
  /** `x5t#S256`: base64url SHA-256 of the DER certificate. */
  readonly thumbprintSha256: string;
  /** `x5t`: base64url SHA-1 of the DER certificate (sent with RS256, as Entra documented it). */
  readonly thumbprintSha1: string;
  /** Base64 DER of the certificate and its chain, for `x5c`. */
  readonly x5c: readonly string[];
  readonly notAfter: Date;
  /** `rsa`, `ec-p256`, or what else the key is (no algorithm of ours signs with it). */
  readonly keyType: string;
  /** The public keys of the bundle's other certificates: a signature by one tells of its order. */
  readonly others: readonly KeyObject[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * A bundle leaf first, then each one's issuer as found in it, then the rest as they came. The leaf
 * is the one certificate `isLeaf` tells (the one of a private key), else the one certificate that
 * issued none of the others (a bundle in any order: CA first is common). Undefined when that is
 * not one certificate (two unrelated ones): the caller keeps the bundle's order.
 */
export function leafFirst(
  given: readonly X509Certificate[],
  isLeaf?: (cert: X509Certificate) => boolean,
): X509Certificate[] | undefined {
  // A certificate given twice (a chain file that repeats the leaf) is one.
  const bundle = given.filter((c, i) => given.findIndex((o) => o.raw.equals(c.raw)) === i);
  if (bundle.length <= 1) return [...bundle];
  const issuesNone = (c: X509Certificate) => !bundle.some((o) => o !== c && o.checkIssued(c));
  const leaves = bundle.filter(isLeaf ?? issuesNone);
  if (leaves.length !== 1) return undefined;
  const ordered = [leaves[0]];
  for (;;) {
    const last = ordered[ordered.length - 1];
    const issuer = bundle.find((c) => !ordered.includes(c) && last.checkIssued(c));
    if (issuer === undefined) break;
    ordered.push(issuer);
  }
  return [...ordered, ...bundle.filter((c) => !ordered.includes(c))];
}

/**
 * The certificate and its chain, in `pem` in any order: the leaf is the certificate that issued
 * none of the others ({@link leafFirst}); `x5c` is sent leaf first.
 * @throws Error `${where}: what is wrong — how to fix it`
 */
export function parseCertificate(pem: string, where: string): SigningCertificate {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new Error(
      `${where}: no PEM certificate (-----BEGIN CERTIFICATE-----) found — provide the key's certificate in PEM form`,
    );
  }
  let bundle: X509Certificate[];
  try {
    bundle = blocks.map((b) => new X509Certificate(b));
  } catch {
    throw new Error(`${where}: a certificate is not valid X.509 — check the PEM content`);
  }
  const chain = leafFirst(bundle) ?? bundle;
  const leaf = chain[0];
  const key = leaf.publicKey;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const keyType =
    key.asymmetricKeyType === 'rsa'
      ? 'rsa'
      : key.asymmetricKeyType === 'ec' && curve === 'prime256v1'
        ? 'ec-p256'
        : `${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''}`;
  return {
    publicKey: key,
    thumbprintSha256: createHash('sha256').update(leaf.raw).digest('base64url'),
    thumbprintSha1: createHash('sha1').update(leaf.raw).digest('base64url'),
    x5c: chain.map((c) => c.raw.toString('base64')),
    notAfter: new Date(leaf.validTo),
    keyType,
    others: chain.slice(1).map((c) => c.publicKey),
  };
}

/** The algorithm of a key when none is configured: PS256 for RSA (what Entra asks), ES256 for P-256. */
export function defaultAlgorithm(cert: SigningCertificate): SignatureAlgorithm | undefined {
  return cert.keyType === 'rsa' ? 'PS256' : cert.keyType === 'ec-p256' ? 'ES256' : undefined;
}

/** Why `algorithm` cannot sign with the certificate's key, or undefined. */
export function algorithmProblem(
  cert: SigningCertificate,
  algorithm: SignatureAlgorithm | undefined,
): string | undefined {
  if (algorithm === undefined) {
    return `the certificate's key is ${cert.keyType}: use an RSA key (PS256, RS256) or an EC P-256 key (ES256)`;
  }
  const wanted = algorithm === 'ES256' ? 'ec-p256' : 'rsa';
  if (cert.keyType === wanted) return undefined;
  return `${algorithm} needs ${wanted === 'rsa' ? 'an RSA' : 'an EC P-256'} key, and the certificate's key is ${cert.keyType} — set algorithm to ${defaultAlgorithm(cert) ?? 'one its key can sign with'}, or use the certificate of the signing key`;
}

/** Bytes that are all base64, base64url or hex characters: a signature sent as text. */
const SIGNATURE_TEXT = /^[A-Za-z0-9+/_=-]+$/;

/**
 * Why `signature` cannot be a signature of `algorithm` with the certificate's key, by its length
 * and form alone (RSA: exactly the modulus' bytes; ES256: 64 bytes `r ‖ s`, or DER), or undefined.
 * Checked before verifying: a signer that returns nothing, a part of a signature, or its base64
 * or hex text (a KMS that answers JSON, wrapped as is) is told so, not sent to look for a rotated
 * key. The message reads after "the signer " and never shows the bytes.
 */
export function signatureProblem(
  cert: SigningCertificate,
  algorithm: SignatureAlgorithm,
  signature: Uint8Array,
): string | undefined {
  const sig = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
  let expected: string;
  if (algorithm === 'ES256') {
    if (sig.length === 64 || derToP1363(sig) !== undefined) return undefined;
    expected = 'an ES256 signature is 64 bytes (r ‖ s) or their DER encoding (at most 72 bytes)';
  } else {
    const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
    if (bits === undefined) return undefined;
    const bytes = Math.ceil(bits / 8);
    if (sig.length === bytes) return undefined;
    expected = `${algorithm === 'RS256' ? 'an' : 'a'} ${algorithm} signature with the certificate's ${bits}-bit key is ${bytes} bytes`;
  }
  const text =
    sig.length > 0 && SIGNATURE_TEXT.test(sig.toString('latin1'))
      ? ' of text (base64 or hex?)'
      : '';
  return `returned ${sig.length} bytes${text}, not a signature: ${expected} — return the signature's raw bytes, whole (not base64 or hex text)`;
}

/**
 * The signature in JWS form when it verifies with the certificate's public key, else undefined
 * (check its form first: {@link signatureProblem}): a signer holding another key (a rotated key whose certificate was not deployed, a wrong label)
 * is told at once, rather than by an authority's AADSTS700027. ES256 comes back as `r ‖ s`,
 * whether the signer gave that or DER.
 */
export function checkedSignature(
  cert: SigningCertificate,
  algorithm: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
): Buffer | undefined {
  const sig = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
  if (algorithm === 'ES256') {
    const p1363 = sig.length === 64 ? sig : derToP1363(sig);
    if (p1363 === undefined) return undefined;
    const ok = verify('sha256', data, { key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, p1363);
    return ok ? p1363 : undefined;
  }
  const key =
    algorithm === 'PS256'
      ? {
          key: cert.publicKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        }
      : cert.publicKey;
  return verify('sha256', data, key, sig) ? sig : undefined;
}

/**
 * Whether a signature that does not verify with the certificate's key verifies with the key of
 * another certificate of its bundle: the bundle's order could not be told, and the leaf is not first.
 */
export function signedByAnother(
  cert: SigningCertificate,
  algorithm: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  return cert.others.some(
    (publicKey) =>
      checkedSignature({ ...cert, publicKey }, algorithm, data, signature) !== undefined,
  );
}

/** An ECDSA P-256 signature `SEQUENCE { r INTEGER, s INTEGER }` as 32-byte `r ‖ s`. */
function derToP1363(der: Buffer): Buffer | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined;
  const out = Buffer.alloc(64);
  let at = 2;
  for (const offset of [0, 32]) {
    if (der[at] !== 0x02) return undefined;
    const len = der[at + 1];
    let int = der.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1);
    if (int.length > 32) return undefined;
    int.copy(out, offset + 32 - int.length);
  }
  return at === der.length ? out : undefined;
}
