import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';
import { TOKEN_EXCHANGE_AUDIENCE } from './directory';
import type { Reply } from './http';
import type { ExternalIssuer } from './types';
import type { CryptoKey, CryptoKeyPair } from './crypto-types';

/** Path under the authority where the external issuer lives. */
export const EXTERNAL_ISSUER_PATH = '/issuer';

/**
 * A Kubernetes-style OIDC issuer of projected service-account tokens (the shape AKS workload identity
 * presents to Entra), with its own discovery document and JWKS.
 */
export class ServiceAccountIssuer implements ExternalIssuer {
  private constructor(
    readonly url: string,
    private readonly keys: CryptoKeyPair,
    private readonly jwk: JWK,
    private readonly now: () => Date,
  ) {}

  static async create(
    origin: string,
    keys: CryptoKeyPair,
    now: () => Date,
  ): Promise<ServiceAccountIssuer> {
    const jwk = await exportJWK(keys.publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const url = `${origin}${EXTERNAL_ISSUER_PATH}`;
    return new ServiceAccountIssuer(url, keys, { ...jwk, kid, use: 'sig', alg: 'RS256' }, now);
  }

  get publicKey(): CryptoKey {
    return this.keys.publicKey;
  }

  async mintToken(options: {
    subject: string;
    audience?: string;
    lifetimeSeconds?: number;
  }): Promise<string> {
    const iat = Math.floor(this.now().getTime() / 1000);
    const [, namespace = 'default', name = options.subject] = options.subject.split(':').slice(1);
    return new SignJWT({
      'kubernetes.io': {
        namespace,
        serviceaccount: { name, uid: randomUUID() },
      },
    })
      .setProtectedHeader({ alg: 'RS256', kid: this.jwk.kid })
      .setIssuer(this.url)
      .setSubject(options.subject)
      .setAudience(options.audience ?? TOKEN_EXCHANGE_AUDIENCE)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + (options.lifetimeSeconds ?? 3600))
      .setJti(randomUUID())
      .sign(this.keys.privateKey);
  }

  /** `GET /issuer/.well-known/openid-configuration`. */
  discovery(): Reply {
    return {
      status: 200,
      json: {
        issuer: this.url,
        jwks_uri: `${this.url}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      },
    };
  }

  /** `GET /issuer/openid/v1/jwks`. */
  jwks(): Reply {
    return { status: 200, json: { keys: [this.jwk] } };
  }
}
