import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import { inspect } from 'node:util';
import type { DpopSetting } from '../options/resolved-options';

/** Server nonces remembered per origin (RFC 9449 §8, §9): a few authorities and APIs per key. */
const MAX_NONCES = 256;

/** The public members of a JWK, as RFC 7638 orders them. */
type PublicJwk =
  { crv: string; kty: 'EC'; x: string; y: string } | { e: string; kty: 'RSA'; n: string };

/** What a proof is for: the request it goes with (RFC 9449 §4.2). */
export interface ProofTarget {
  /** The HTTP method (`htm`). */
  readonly method: string;
  /** The request's URL; its query and fragment are left out of `htu`. */
  readonly url: string | URL;
  /** The access token the request carries: its SHA-256 is the proof's `ath` (API requests). */
  readonly accessToken?: string;
  /** Its {@link accessTokenHash}, when the caller has it already (it wins over `accessToken`). */
  readonly accessTokenHash?: string;
  /** The server's nonce (`DPoP-Nonce`), if it asked for one. */
  readonly nonce?: string;
}

/**
 * A credential's DPoP key (RFC 9449): it signs a fresh proof JWT — its own `jti`, `iat`, `htm`,
 * `htu`, and `ath` / `nonce` when given — for every token request and every API request. The
 * private key lives in a private field only and never leaves the process; `jkt`, the RFC 7638
 * thumbprint the authority puts in the token's `cnf`, is what identifies it in cache keys and logs.
 *
 * Signed with node:crypto and the KeyObject prepared once rather than with jose's SignJWT, which
 * imports the key into WebCrypto on every call: a proof is signed on every API request, and its
 * cost is the whole overhead of a DPoP call over a bearer one (see bench/integrations.ts).
 */
export class DpopKey {
  readonly #key: KeyObject;
  /** base64url of the header, the same for every proof of this key. */
  readonly #header: string;
  /** Nonces by origin, latest first out (a Map keeps insertion order). */
  readonly #nonces = new Map<string, string>();

  private constructor(
    key: KeyObject,
    readonly algorithm: DpopSetting['algorithm'],
    /** The key's RFC 7638 JWK SHA-256 thumbprint (base64url): the token's `cnf.jkt`. */
    readonly jkt: string,
    jwk: PublicJwk,
  ) {
    this.#key = key;
    this.#header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: algorithm, jwk })).toString(
      'base64url',
    );
  }

  /**
   * The key of `setting`: its PEM, or one generated now (P-256 for ES256, RSA 2048 otherwise; a
   * few milliseconds, once per credential at start).
   * @throws Error `privateKey: …` naming what is wrong with a given key (never its content)
   */
  static create(setting: DpopSetting): DpopKey {
    const { algorithm } = setting;
    let key: KeyObject;
    if (setting.privateKey === undefined) {
      key =
        algorithm === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
          : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    } else {
      try {
        key = createPrivateKey(setting.privateKey);
      } catch {
        throw new Error(
          'privateKey: cannot be read as a PEM private key — pass an unencrypted PKCS#8, SEC1 or PKCS#1 key',
        );
      }
      const problem = keyProblem(key, algorithm);
      if (problem !== undefined) throw new Error(`privateKey: ${problem}`);
    }
    const full = createPublicKey(key).export({ format: 'jwk' });
    // Only the members that define the public key, in lexicographic order: RFC 7638 §3.2 hashes
    // exactly this JSON (jose's calculateJwkThumbprint is async; a credential makes its key in
    // its constructor, and the spec checks the value against jose's).
    const jwk: PublicJwk =
      full.kty === 'EC'
        ? { crv: full.crv!, kty: 'EC', x: full.x!, y: full.y! }
        : { e: full.e!, kty: 'RSA', n: full.n! };
    const jkt = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url');
    return new DpopKey(key, algorithm, jkt, jwk);
  }

  /** A fresh proof JWT for one request (the `DPoP` header's value). */
  proof(target: ProofTarget): string {
    const url = typeof target.url === 'string' ? new URL(target.url) : target.url;
    const payload = JSON.stringify({
      jti: randomUUID(),
      htm: target.method.toUpperCase(),
      htu: `${url.origin}${url.pathname}`,
      iat: Math.floor(Date.now() / 1000),
      // Members left undefined are not written (JSON.stringify).
      ath:
        target.accessTokenHash ??
        (target.accessToken === undefined ? undefined : accessTokenHash(target.accessToken)),
      nonce: target.nonce,
    });
    const input = `${this.#header}.${Buffer.from(payload).toString('base64url')}`;
    return `${input}.${this.signature(input)}`;
  }

  /** The nonce `origin` last gave (`DPoP-Nonce`), if any. */
  nonceOf(origin: string): string | undefined {
    return this.#nonces.get(origin);
  }

  /** Remembers the nonce a server gave with any answer, for the next proof to it. */
  noteNonce(origin: string, nonce: string | null | undefined): void {
    // RFC 9449 §8.1: a nonce is a non-empty run of NQCHAR (no quotes, no backslash).
    if (!nonce || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(nonce) || nonce.length > 1024) return;
    if (this.#nonces.get(origin) === nonce) return;
    this.#nonces.delete(origin);
    this.#nonces.set(origin, nonce);
    if (this.#nonces.size > MAX_NONCES) {
      this.#nonces.delete(this.#nonces.keys().next().value as string);
    }
  }

  toJSON(): Record<string, unknown> {
    return { algorithm: this.algorithm, jkt: this.jkt };
  }

  [inspect.custom](): string {
    return `DpopKey ${inspect(this.toJSON())}`;
  }

  private signature(input: string): string {
    const data = Buffer.from(input);
    const signature =
      this.algorithm === 'ES256'
        ? // JWS wants the raw r || s, not DER (RFC 7518 §3.4).
          sign('sha256', data, { key: this.#key, dsaEncoding: 'ieee-p1363' })
        : this.algorithm === 'PS256'
          ? sign('sha256', data, {
              key: this.#key,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
            })
          : sign('sha256', data, this.#key);
    return signature.toString('base64url');
  }
}

/**
 * A proof's `ath` for `accessToken`: base64url(SHA-256(token)) (RFC 9449 §4.2). ~10 µs of
 * OpenSSL per call (its digest set-up, more with cold caches): a token sent many times is hashed
 * once by its caller (credentials/token-binding.ts).
 */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/** Why `key` cannot sign proofs of `algorithm`, or undefined. */
function keyProblem(key: KeyObject, algorithm: DpopSetting['algorithm']): string | undefined {
  if (algorithm === 'ES256') {
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      ? undefined
      : `is ${describe(key)}; ES256 needs an EC P-256 key — or set algorithm to match the key`;
  }
  if (key.asymmetricKeyType !== 'rsa') {
    return `is ${describe(key)}; ${algorithm} needs an RSA key — or set algorithm: 'ES256' for a P-256 key`;
  }
  return (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048
    ? `is an RSA key of ${key.asymmetricKeyDetails?.modulusLength} bits; ${algorithm} needs 2048 or more`
    : undefined;
}

function describe(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `a key of type ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}`;
}
