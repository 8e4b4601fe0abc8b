import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CryptoKey, CryptoKeyPair } from './crypto-types';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const DAY = 24 * 3600 * 1000;

/** A certificate with the key pair it was made for. */
export interface IssuedCertificate {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certificatePem: string;
  privateKeyPem: string;
}

/** Generates an RSA 2048 key pair (~50-100 ms; runs on libuv's thread pool). */
export async function generateKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive 16-byte serial: clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}

/** Creates a self-signed CA certificate. */
export async function createCa(name: string, keys?: CryptoKeyPair): Promise<IssuedCertificate> {
  const pair = keys ?? (await generateKeys());
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    keys: pair,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
    ],
  });
  return finish(cert, pair);
}

/** What {@link issueCertificate} makes. */
export interface IssueOptions {
  subject: string;
  issuer: IssuedCertificate;
  kind: 'server' | 'client' | 'intermediate';
  keys?: CryptoKeyPair;
  notBefore?: Date;
  notAfter?: Date;
}

/** Issues a certificate signed by `issuer`. */
export async function issueCertificate(options: IssueOptions): Promise<IssuedCertificate> {
  const pair = options.keys ?? (await generateKeys());
  return finish(await createCertificate(options, pair.publicKey), pair);
}

/**
 * A certificate (PEM) for a public key whose private key the issuer never sees — an HSM's, a key
 * vault's — as a CA answers a CSR.
 */
export async function issueCertificateForKey(
  options: Omit<IssueOptions, 'keys'>,
  publicKey: CryptoKey,
): Promise<string> {
  return (await createCertificate(options, publicKey)).toString('pem') + '\n';
}

/** The certificate of `publicKey`, signed by the issuer. */
async function createCertificate(
  options: IssueOptions,
  publicKey: CryptoKey,
): Promise<x509.X509Certificate> {
  const pair = { publicKey };
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(options.issuer.keys.publicKey),
  ];
  if (options.kind === 'intermediate') {
    extensions.push(
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    );
  } else {
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
    );
  }
  if (options.kind === 'server') {
    extensions.push(
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    );
  }
  if (options.kind === 'client') {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: options.subject.includes('=') ? options.subject : `CN=${options.subject}`,
    issuer: options.issuer.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
    signingKey: options.issuer.keys.privateKey,
    publicKey: pair.publicKey,
    signingAlgorithm: RSA,
    extensions,
  });
  return cert;
}

async function finish(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<IssuedCertificate> {
  return {
    cert,
    keys,
    certificatePem: cert.toString('pem') + '\n',
    privateKeyPem: await privateKeyPem(keys.privateKey),
  };
}

/** Uppercase hex thumbprints of a DER certificate. */
export function thumbprints(der: Buffer): { sha1: string; sha256: string } {
  return {
    sha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}

/** DER bytes of a PEM certificate. */
export function pemToDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** base64url thumbprint as JOSE carries it in `x5t` / `x5t#S256`, from uppercase hex. */
export function hexToBase64Url(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64url');
}

/**
 * Verifies that `chain` (leaf first, base64 DER as in `x5c`) links up to `root` using Node's
 * X509Certificate: each certificate is signed by the next one (or the root), within its validity,
 * and every issuer is a CA. Returns the reason for the first failure, or undefined.
 */
export function verifyChain(
  chain: X509Certificate[],
  root: X509Certificate,
  at: Date,
): string | undefined {
  if (chain.length === 0) return 'the x5c chain is empty';
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i];
    if (new Date(cert.validFrom) > at || new Date(cert.validTo) < at) {
      return `certificate '${cert.subject}' is not within its validity period`;
    }
    const issuer = chain[i + 1];
    if (issuer !== undefined) {
      if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        return `certificate '${cert.subject}' is not issued by '${issuer.subject}'`;
      }
      continue;
    }
    // The last one must be the trusted root itself or be signed by it.
    if (cert.fingerprint256 === root.fingerprint256) return undefined;
    if (cert.checkIssued(root) && cert.verify(root.publicKey)) return undefined;
    return `the chain does not lead to a trusted root (last issuer '${cert.issuer}')`;
  }
  return undefined;
}

/** The authority's certificates: its TLS CA, and the root and intermediate of SN+I certificates. */
export interface AuthorityPki {
  ca: IssuedCertificate;
  sniRoot: IssuedCertificate;
  sniIntermediate: IssuedCertificate;
}
