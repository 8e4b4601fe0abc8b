import { InvalidRequestError } from '../errors/client-credentials.errors';

/** Tenants that name no directory: client credentials need a real one. */
export const META_TENANTS: ReadonlySet<string> = new Set(['common', 'organizations', 'consumers']);

/**
 * The cache key part of a scope request: the scope itself for the common single-scope call,
 * else the sorted, de-duplicated set. Cheap on purpose: it runs on the cache-hit path.
 */
export function scopeKey(scopes: string | readonly string[]): string {
  if (typeof scopes === 'string') return scopes;
  if (!Array.isArray(scopes)) return String(scopes);
  if (scopes.length === 1) return String(scopes[0]);
  return [...new Set(scopes)].sort().join(' ');
}

/**
 * Checks scopes before any network call. Entra ID's client credentials flow takes exactly one
 * `<resource>/.default` scope; other issuers take any non-empty set of scope tokens (RFC 6749 §3.3).
 * @returns the scopes as a list
 */
export function validateScopes(
  scopes: string | readonly string[],
  protocol: 'entra' | 'oidc',
  credential: string,
): string[] {
  const list: unknown[] =
    typeof scopes === 'string' ? [scopes] : Array.isArray(scopes) ? [...new Set(scopes)] : [];
  const fail = (what: string) =>
    new InvalidRequestError('scope_invalid', `Scopes for credential '${credential}' ${what}.`, {
      credential,
    });
  if (list.length === 0) throw fail('are empty');
  for (const s of list) {
    if (typeof s !== 'string' || s.length === 0) throw fail('contain an empty or non-string scope');
    if (s.length > 1000) throw fail('contain a scope longer than 1000 characters');
    // RFC 6749 §3.3 scope-token: printable ASCII except space, double quote and backslash.
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s)) {
      throw fail(
        `contain ${JSON.stringify(s.slice(0, 60))}, which has spaces or characters not allowed in a scope`,
      );
    }
  }
  const valid = list as string[];
  if (protocol === 'entra') {
    if (valid.length !== 1) {
      throw fail(
        `name ${valid.length} scopes; client credentials with Entra ID take exactly one '<resource>/.default'`,
      );
    }
    if (!valid[0].endsWith('/.default') || valid[0] === '/.default') {
      throw fail(
        `name '${valid[0]}', which is not '<resource>/.default' (e.g. 'api://my-api/.default')`,
      );
    }
  }
  return valid;
}

const RESERVED: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$/;
// Path segments of an OIDC realm (`tenant`, `realms/tenant`), none of them `.` or `..`: a per-call
// tenant is joined to the issuer's host, and must not move the token path outside its realms.
const OIDC_TENANT = /^(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+(\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)*$/;

/** What is wrong with a tenant, or undefined: a GUID or a verified domain, never a meta-tenant. */
export function tenantProblem(tenantId: unknown, protocol: 'entra' | 'oidc'): string | undefined {
  if (typeof tenantId !== 'string' || tenantId.length === 0) return 'is empty';
  // Names of JavaScript's object machinery: never a tenant, and never a key of anything of ours.
  if (RESERVED.has(tenantId))
    return 'is not a tenant ID — use the directory (tenant) ID GUID or a verified domain';
  if (META_TENANTS.has(tenantId.toLowerCase())) {
    return `'${tenantId}' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain`;
  }
  const ok =
    protocol === 'entra'
      ? GUID.test(tenantId) || DOMAIN.test(tenantId)
      : OIDC_TENANT.test(tenantId);
  return ok
    ? undefined
    : 'is not a tenant ID — use the directory (tenant) ID GUID or a verified domain';
}

/** Checks a per-call tenant before any network call. */
export function validateTenant(
  tenantId: string,
  protocol: 'entra' | 'oidc',
  credential: string,
): void {
  const problem = tenantProblem(tenantId, protocol);
  if (problem !== undefined) {
    throw new InvalidRequestError(
      'tenant_invalid',
      `Tenant ${problem.startsWith("'") ? problem : `'${String(tenantId).slice(0, 100)}' ${problem}`} (credential '${credential}').`,
      { credential, tenantId: typeof tenantId === 'string' ? tenantId.slice(0, 100) : undefined },
    );
  }
}
