import { generateKeyPair, randomUUID, type KeyObject } from 'node:crypto';
import { signDigest } from './digest-signature';
import { promisify } from 'node:util';
import type { Reply, RequestContext } from './http';
import type { Revocations } from './revocation';
import type { TokenIssuer } from './token-issuer';
import { verifiedClaims } from './protected-api';
import type { VaultKeyVersion } from './types';

const generate = promisify(generateKeyPair);

/** The resource (App ID URI) of Azure Key Vault: what its challenge names, the token's audience. */
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

/** One version of a vault key. */
interface KeyVersion {
  readonly version: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  enabled: boolean;
  readonly created: number;
}

/** A key of the emulated vault: its versions, newest last. */
interface VaultKeyRecord {
  readonly name: string;
  readonly versions: KeyVersion[];
}

/** What the vault's endpoints read of the authority. */
export interface VaultDeps {
  origin: string;
  issuer: TokenIssuer;
  /** The token audiences of Key Vault: its application id and App ID URI. */
  audiences: string[];
  /** The authority's revocations (`revokeTokens`): the vault is a CAE-aware resource. */
  revocations: Revocations;
}

/**
 * An Azure Key Vault at the authority's origin, as far as a client signs with it: `GET
 * /keys/{name}[/{version}]` and `POST /keys/{name}/{version}/sign` (an empty version is the
 * current one, as the SDK sends for a key id without a version), behind Key Vault's challenge —
 * an unauthenticated request is answered 401 `WWW-Authenticate: Bearer
 * authorization="{authority}/{tenant}", resource="https://vault.azure.net"` — and its access
 * policies (a principal's `get` and `sign` permissions, by object id). A token revoked by
 * `revokeTokens` is refused as the demo API refuses it (a CAE claims challenge). RSA keys only, with RS256
 * and PS256: what Entra certificate credentials use. Errors in Key Vault's shape
 * `{ error: { code, message, innererror? } }`. From Microsoft's REST reference ("Keys - Sign",
 * "Get Key", "Authentication, requests and responses").
 */
export class KeyVaultEmulation {
  private readonly keys = new Map<string, VaultKeyRecord>();
  private readonly grants = new Map<string, Set<'get' | 'sign'>>();
  /** Signatures made, all keys. */
  signatures = 0;

  constructor(
    private readonly deps: VaultDeps,
    /** The vault's tenant: its challenge names it, and only its tokens are accepted. */
    readonly tenantId: string,
  ) {}

  /** Creates a key (an RSA 2048 key pair), or a new version of an existing one. */
  async createKey(name: string): Promise<VaultKeyVersion> {
    const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 });
    let record = this.keys.get(name.toLowerCase());
    if (record === undefined) {
      record = { name, versions: [] };
      this.keys.set(name.toLowerCase(), record);
    }
    const version: KeyVersion = {
      version: randomUUID().replace(/-/g, ''),
      privateKey,
      publicKey,
      enabled: true,
      created: Math.floor(Date.now() / 1000),
    };
    record.versions.push(version);
    return this.describe(record, version);
  }

  /** Enables or disables a key version (default: the current one). */
  setEnabled(name: string, enabled: boolean, version?: string): void {
    const found = this.find(name, version ?? '');
    if (found === undefined) throw new Error(`dev-authority: no vault key '${name}'`);
    found.version.enabled = enabled;
  }

  /** Grants a principal (by object id) key permissions, as an access policy does. */
  grant(objectId: string, permissions: ('get' | 'sign')[]): void {
    this.grants.set(objectId.toLowerCase(), new Set(permissions));
  }

  /** `GET /keys/{name}[/{version}]`. */
  async getKey(ctx: RequestContext): Promise<Reply> {
    const auth = await this.authorize(ctx, 'get');
    if ('status' in auth) return auth;
    const found = this.find(ctx.params.name, ctx.params.version ?? '');
    if (found === undefined) return this.notFound(ctx.params.name);
    const { record, version } = found;
    const jwk = version.publicKey.export({ format: 'jwk' });
    return {
      status: 200,
      json: {
        key: {
          kid: this.describe(record, version).id,
          kty: 'RSA',
          key_ops: ['sign', 'verify'],
          n: jwk.n,
          e: jwk.e,
        },
        attributes: {
          enabled: version.enabled,
          created: version.created,
          updated: version.created,
          recoveryLevel: 'Recoverable+Purgeable',
        },
      },
    };
  }

  /** `POST /keys/{name}[/{version}]/sign` with `{ alg, value }`: `value` is the digest. */
  async sign(ctx: RequestContext): Promise<Reply> {
    const auth = await this.authorize(ctx, 'sign');
    if ('status' in auth) return auth;
    const found = this.find(ctx.params.name, ctx.params.version ?? '');
    if (found === undefined) return this.notFound(ctx.params.name);
    const { record, version } = found;
    if (!version.enabled) {
      return vaultError(
        403,
        'Forbidden',
        'Operation sign is not allowed on a disabled key.',
        'KeyDisabled',
      );
    }
    let body: { alg?: unknown; value?: unknown };
    try {
      body = JSON.parse(await ctx.body()) as typeof body;
    } catch {
      return vaultError(400, 'BadParameter', 'The request body is not valid JSON.');
    }
    const digest =
      typeof body.value === 'string' ? Buffer.from(body.value, 'base64url') : undefined;
    if (
      digest === undefined ||
      digest.length !== 32 ||
      (body.alg !== 'RS256' && body.alg !== 'PS256')
    ) {
      return vaultError(
        400,
        'BadParameter',
        `Invalid algorithm or digest: this vault signs SHA-256 digests with RS256 or PS256.`,
      );
    }
    const signature = signDigest(version.privateKey, body.alg, digest);
    this.signatures++;
    return {
      status: 200,
      json: { kid: this.describe(record, version).id, value: signature.toString('base64url') },
    };
  }

  /**
   * The caller's token, checked as Key Vault does: none (or not one of this tenant's for the
   * vault) gets the challenge; a principal without the permission gets 403.
   */
  private async authorize(
    ctx: RequestContext,
    permission: 'get' | 'sign',
  ): Promise<{ oid: string } | Reply> {
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '');
    const claims =
      match === null ? undefined : await verifiedClaims(match[1], this.deps.issuer.publicKey);
    const aud = [claims?.aud].flat();
    const now = Date.now() / 1000;
    const valid =
      claims !== undefined &&
      typeof claims.tid === 'string' &&
      claims.tid.toLowerCase() === this.tenantId &&
      claims.iss === this.deps.issuer.issuer(claims.tid) &&
      aud.some((a) => a !== undefined && this.deps.audiences.includes(a)) &&
      (claims.exp ?? 0) > now;
    if (!valid) {
      return {
        status: 401,
        headers: {
          'www-authenticate': `Bearer authorization="${this.deps.origin}/${this.tenantId}", resource="${KEY_VAULT_RESOURCE}"`,
        },
        json: {
          error: {
            code: 'Unauthorized',
            message:
              match === null
                ? 'AKV10000: Request is missing a Bearer or PoP token.'
                : 'AKV10032: Invalid issuer, audience or lifetime of the token.',
          },
        },
      };
    }
    // As a CAE-aware resource (Key Vault is one): a revoked but otherwise valid token gets the
    // claims challenge (`insufficient_claims`, to clients with `cp1`) or a plain `invalid_token`.
    const revoked = this.deps.revocations.challenge(claims);
    if (revoked !== undefined) {
      return {
        status: 401,
        headers: { 'www-authenticate': revoked },
        json: { error: { code: 'Unauthorized', message: 'The access token was revoked.' } },
      };
    }
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    const oid = text(claims.oid).toLowerCase();
    ctx.log.clientId = typeof claims.azp === 'string' ? claims.azp : undefined;
    if (!this.grants.get(oid)?.has(permission)) {
      return vaultError(
        403,
        'Forbidden',
        `The user, group or application 'appid=${text(claims.azp) || text(claims.appid)};oid=${oid};iss=${String(claims.iss)}' does not have keys ${permission} permission on key vault 'dev-authority'.`,
        'AccessDenied',
      );
    }
    return { oid };
  }

  private find(
    name: string,
    version: string,
  ): { record: VaultKeyRecord; version: KeyVersion } | undefined {
    const record = this.keys.get(name.toLowerCase());
    if (record === undefined) return undefined;
    const found =
      version === ''
        ? record.versions[record.versions.length - 1]
        : record.versions.find((v) => v.version === version);
    return found === undefined ? undefined : { record, version: found };
  }

  private notFound(name: string): Reply {
    return vaultError(
      404,
      'KeyNotFound',
      `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`,
    );
  }

  private describe(record: VaultKeyRecord, version: KeyVersion): VaultKeyVersion {
    const keyId = `${this.deps.origin}/keys/${record.name}`;
    return {
      id: `${keyId}/${version.version}`,
      keyId,
      version: version.version,
      publicKeyPem: version.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
  }
}

function vaultError(status: number, code: string, message: string, inner?: string): Reply {
  return {
    status,
    json: {
      error: { code, message, ...(inner === undefined ? {} : { innererror: { code: inner } }) },
    },
  };
}
