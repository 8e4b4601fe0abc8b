import { KeyObject, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { ResourceRecord } from './directory';
import type { CryptoKey, CryptoKeyPair } from './crypto-types';
import { signRs256 } from './jwt-sign';

/**
 * First-party Microsoft resources whose tokens Entra issues in the v1.0 format (their service
 * principals do not accept v2.0 tokens): issuer `https://sts.windows.net/{tid}/`, audience the
 * resource URI as requested. Azure Storage (and the Azurite emulator) checks exactly that.
 */
export const V1_RESOURCES: ReadonlySet<string> = new Set(['https://storage.azure.com']);

/** Who an access token is for and about. */
export interface AppTokenRequest {
  tenantId: string;
  /** Client (application) id of the caller: `azp` / `appid`. */
  clientId: string;
  /** Service principal object id of the caller: `oid` / `sub`. */
  objectId: string;
  /** `sub` when it is not the object id (an agent blueprint's token exchange token). */
  subject?: string;
  resource: ResourceRecord;
  roles: string[];
  /** 1 = client secret, 2 = certificate / assertion. */
  azpacr: '1' | '2';
  lifetimeSeconds: number;
  now: Date;
  /** Extra claims (e.g. `xms_mirid` for managed identities). */
  extra?: Record<string, unknown>;
}

/** The authority's token signing key (one for all tenants, like Entra's common keys). */
export class TokenIssuer {
  /** The private key as node:crypto signs with it, converted once (see {@link signRs256}). */
  private readonly signingKey: KeyObject;

  private constructor(
    private readonly keys: CryptoKeyPair,
    readonly jwk: JWK,
    readonly origin: string,
  ) {
    this.signingKey = KeyObject.from(keys.privateKey);
  }

  /** Wraps a key pair; the kid is the key's JWK thumbprint. */
  static async create(keys: CryptoKeyPair, origin: string): Promise<TokenIssuer> {
    const jwk = await exportJWK(keys.publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return new TokenIssuer(keys, { ...jwk, kty: 'RSA', use: 'sig', kid, alg: 'RS256' }, origin);
  }

  get publicKey(): CryptoKey {
    return this.keys.publicKey;
  }

  /** Issuer of tokens for a tenant, as in Entra v2.0 tokens. */
  issuer(tenantId: string): string {
    return `${this.origin}/${tenantId}/v2.0`;
  }

  /** Issuer of v1.0 tokens for a tenant, as Entra's (`https://sts.windows.net/{tid}/`). */
  static v1Issuer(tenantId: string): string {
    return `https://sts.windows.net/${tenantId}/`;
  }

  /**
   * Mints an app-only access token (claims per Entra's access token claims reference): v2.0, or
   * v1.0 for a first-party resource of {@link V1_RESOURCES}.
   */
  async mint(request: AppTokenRequest): Promise<{ token: string; uti: string }> {
    if (V1_RESOURCES.has(request.resource.appIdUri.toLowerCase())) return this.mintV1(request);
    const iat = Math.floor(request.now.getTime() / 1000);
    const { uti, aio, rh } = randomIds();
    const claims: Record<string, unknown> = {
      aio,
      azp: request.clientId,
      azpacr: request.azpacr,
      // `appid` is a v1.0 claim; kept so consumers written against either version find the caller.
      appid: request.clientId,
      idtyp: 'app',
      oid: request.objectId,
      rh,
      tid: request.tenantId,
      uti,
      ver: '2.0',
      ...(request.roles.length > 0 ? { roles: request.roles } : {}),
      ...request.extra,
    };
    const token = this.sign(claims, {
      iss: this.issuer(request.tenantId),
      aud: request.resource.appId,
      sub: request.subject ?? request.objectId,
      iat,
      nbf: iat,
      exp: iat + request.lifetimeSeconds,
    });
    return { token, uti };
  }

  /** A v1.0 token: `appid`/`appidacr` instead of `azp`/`azpacr`, `sts.windows.net` issuer. */
  private async mintV1(request: AppTokenRequest): Promise<{ token: string; uti: string }> {
    const iat = Math.floor(request.now.getTime() / 1000);
    const { uti, aio, rh } = randomIds();
    const issuer = TokenIssuer.v1Issuer(request.tenantId);
    const claims: Record<string, unknown> = {
      aio,
      appid: request.clientId,
      appidacr: request.azpacr,
      idp: issuer,
      idtyp: 'app',
      oid: request.objectId,
      rh,
      tid: request.tenantId,
      uti,
      ver: '1.0',
      ...(request.roles.length > 0 ? { roles: request.roles } : {}),
      ...request.extra,
    };
    const token = this.sign(claims, {
      iss: issuer,
      aud: request.resource.appIdUri,
      sub: request.subject ?? request.objectId,
      iat,
      nbf: iat,
      exp: iat + request.lifetimeSeconds,
    });
    return { token, uti };
  }

  /** An RS256 JWT of `claims` plus the registered ones, with this key's `kid`. */
  private sign(claims: Record<string, unknown>, registered: Record<string, unknown>): string {
    return signRs256(
      { typ: 'JWT', kid: this.jwk.kid },
      { ...claims, ...registered },
      this.signingKey,
    );
  }
}

/**
 * The random parts of a token (`uti`, `aio`, `rh`: 16, 24 and 12 random bytes), drawn in one call: each `randomBytes` is a call into OpenSSL's generator, and a sweep mints a token per request.
 */
function randomIds(): { uti: string; aio: string; rh: string } {
  const bytes = randomBytes(52);
  return {
    uti: bytes.subarray(0, 16).toString('base64url'),
    aio: bytes.subarray(16, 40).toString('base64url'),
    rh: `0.${bytes.subarray(40, 52).toString('base64url')}.`,
  };
}
