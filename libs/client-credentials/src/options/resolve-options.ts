import { describeIssue, notAnObject } from './option-problems';
import { managedIdentityName } from './managed-identity-name';
import {
  ENVIRONMENT_PROXY,
  MANAGED_IDENTITY_TENANT,
  NO_PROXY,
  type MtlsSetting,
  type ProxySetting,
  type ResolvedBlueprint,
  type ResolvedCredential,
  type ResolvedTokenRequest,
  type ResolvedOptions,
  type ResolvedWarmUp,
} from './resolved-options';
import { DEFAULTS } from './defaults';
import type {
  ClientCredentialsModuleOptions,
  RefreshOptions,
  RetryOptions,
  TimeoutOptions,
  WarmUpOptions,
} from '../client-credentials.options';
import type { SharedCacheOptions } from '../shared-cache.options';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { moduleOptionsSchema } from './options.schema';
import { resolveSharedCache } from './shared-cache.schema';
import { entraMtlsOrigin } from './mtls.schema';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import type {
  AgentBlueprintOptions,
  CredentialSource,
  ProxyOptions,
  TokenRequestOptions,
} from '../credential.options';

function proxySetting(proxy: string | false | ProxyOptions | undefined): ProxySetting {
  if (proxy === undefined) return ENVIRONMENT_PROXY;
  if (proxy === false) return NO_PROXY;
  return typeof proxy === 'string'
    ? new ExplicitProxy(proxy, [])
    : new ExplicitProxy(proxy.url, proxy.noProxy ?? []);
}

/**
 * A proxy the credential names. Its URL may hold a user and password: it lives in a private
 * field, and what serialises or inspects the settings (the token service's `toJSON`, a logged
 * credential) shows it without them.
 */
class ExplicitProxy {
  readonly kind = 'explicit';
  readonly #url: string;

  constructor(
    url: string,
    readonly noProxy: readonly string[],
  ) {
    this.#url = url;
  }

  get url(): string {
    return this.#url;
  }

  toJSON(): Record<string, unknown> {
    let shown: string;
    try {
      const u = new URL(this.#url);
      shown = `${u.protocol}//${u.username || u.password ? '[redacted]@' : ''}${u.host}`;
    } catch {
      shown = '[unreadable URL]';
    }
    return { kind: this.kind, url: shown, noProxy: this.noProxy };
  }

  [inspect.custom](): string {
    return `ExplicitProxy ${inspect(this.toJSON())}`;
  }
}

/**
 * Validates the module options and applies the defaults. Every problem is reported at once,
 * each naming its field and how to fix it; no value is echoed, so no secret can leak.
 * @throws ConfigurationError
 */
export function resolveOptions(options: ClientCredentialsModuleOptions): ResolvedOptions {
  const root = notAnObject(options);
  if (root !== undefined) throw new ConfigurationError([root]);
  const parsed = moduleOptionsSchema.safeParse(options);
  if (!parsed.success) {
    // At the top level, where a misspelt `credentials` would otherwise leave the options without
    // credentials, an unknown key is named with the option it is closest to.
    const problems = parsed.error.issues.map((i) =>
      describeIssue(i, options, i.path.length === 0 ? Object.keys(moduleOptionsSchema.shape) : []),
    );
    throw new ConfigurationError([...new Set(problems)]);
  }
  const o = parsed.data;
  const credentials = new Map<string, ResolvedCredential>();
  for (const [name, c] of Object.entries(o.credentials)) {
    const issuer = c.issuer?.replace(/\/+$/, '');
    credentials.set(name, {
      name,
      // A managed identity has no tenant or app of its own to name: these keep its cache keys apart.
      // An issuer's realm is the issuer itself; `tenantId`, if given, only labels its tokens.
      tenantId: c.tenantId ?? (issuer === undefined ? MANAGED_IDENTITY_TENANT : 'issuer'),
      clientId: c.clientId ?? managedIdentityName(c.sources),
      authorityHost: issuer ?? (c.authorityHost ?? DEFAULTS.authorityHost).replace(/\/+$/, ''),
      protocol: c.protocol ?? DEFAULTS.protocol,
      issuer,
      // The validated sources: what is sent is what was checked (a secret without the newline a
      // file left behind). Functions such as getAssertion are kept as the caller's own.
      sources: c.sources as CredentialSource[],
      ca: c.ca === undefined ? undefined : ([] as string[]).concat(c.ca),
      proxy: proxySetting(c.proxy),
      agentBlueprint:
        c.agentBlueprint === undefined || c.agentBlueprint === false
          ? undefined
          : resolveBlueprint(c.agentBlueprint === true ? {} : c.agentBlueprint),
      tokenRequest:
        c.tokenRequest === undefined
          ? undefined
          : resolveTokenRequest(c.tokenRequest as TokenRequestOptions),
      dpop:
        c.dpop === undefined || c.dpop === false
          ? undefined
          : {
              algorithm: (c.dpop === true ? undefined : c.dpop.algorithm) ?? 'ES256',
              privateKey: c.dpop === true ? undefined : c.dpop.privateKey,
            },
      mtls: mtlsSetting(c),
    });
  }
  const names = [...credentials.keys()];
  const cache = withDefaults<{ maxEntries?: number; keyPrefix?: string }>(DEFAULTS.cache, o.cache);
  const timeouts = withDefaults<TimeoutOptions>(DEFAULTS.timeouts, o.timeouts);
  return {
    credentials,
    defaultCredential: o.defaultCredential ?? (names.length === 1 ? names[0] : undefined),
    cache: {
      ...cache,
      store: o.cache?.store as ResolvedOptions['cache']['store'],
      shared:
        o.cache?.shared === undefined
          ? undefined
          : resolveSharedCache(o.cache.shared as SharedCacheOptions, timeouts),
    },
    refresh: withDefaults<RefreshOptions>(DEFAULTS.refresh, o.refresh),
    retry: withDefaults<RetryOptions>(DEFAULTS.retry, o.retry),
    timeouts,
    warmUp: o.warmUp === undefined ? undefined : resolveWarmUp(o.warmUp),
  };
}

/** The most tokens a warm-up obtains (every combination of tenants and agents counted). */
const MAX_WARM_UP_TOKENS = 10_000;

/** Every combination of each declared token's tenants and agents. */
function resolveWarmUp(o: WarmUpOptions): ResolvedWarmUp {
  // Counted before any is built: a misconfiguration (tenants × agents in the millions) is refused
  // without allocating it.
  const count = o.tokens.reduce(
    (n, t) => n + (t.tenants?.length ?? 1) * (t.agents?.length ?? 1),
    0,
  );
  if (count > MAX_WARM_UP_TOKENS) {
    throw new ConfigurationError([
      `warmUp.tokens: declare ${count} tokens (each tenant × each agent) — at most ${MAX_WARM_UP_TOKENS}; leave the rest to be obtained on first use`,
    ]);
  }
  const targets = o.tokens.flatMap((t, i) =>
    (t.tenants ?? [undefined]).flatMap((tenantId) =>
      (t.agents ?? [undefined]).map((agent) => ({
        credential: t.credential,
        scopes: t.scopes,
        tenantId,
        agent,
        declaredAt: `warmUp.tokens[${i}]`,
      })),
    ),
  );
  return {
    targets,
    wait: o.wait ?? DEFAULTS.warmUp.wait,
    timeoutMs: o.timeoutMs ?? DEFAULTS.warmUp.timeoutMs,
  };
}

function resolveTokenRequest(o: TokenRequestOptions): ResolvedTokenRequest {
  const parameters = { ...o.parameters };
  const headers = Object.fromEntries(
    Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
  );
  const sorted = (r: Record<string, string>) =>
    Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1));
  const digest = createHash('sha256')
    .update(JSON.stringify([sorted(parameters), sorted(headers)]))
    .digest('base64url')
    .slice(0, 16);
  return new TokenRequestExtras(parameters, headers, o.customize, digest);
}

/**
 * A credential's `tokenRequest`, resolved. A header may be an API gateway's key: the values live
 * in a private field, and what serialises or inspects the settings shows the names only.
 */
class TokenRequestExtras implements ResolvedTokenRequest {
  readonly #headers: Readonly<Record<string, string>>;

  constructor(
    readonly parameters: Readonly<Record<string, string>>,
    headers: Readonly<Record<string, string>>,
    readonly customize: TokenRequestOptions['customize'],
    readonly digest: string,
  ) {
    this.#headers = headers;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  toJSON(): Record<string, unknown> {
    return {
      parameters: Object.keys(this.parameters),
      headers: Object.keys(this.#headers),
      customize: this.customize !== undefined,
    };
  }

  [inspect.custom](): string {
    return `TokenRequestExtras ${inspect(this.toJSON())}`;
  }
}

function resolveBlueprint(o: AgentBlueprintOptions): ResolvedBlueprint {
  return {
    agents: new Map(
      Object.entries(o.agents ?? {}).map(([name, id]) => [name, id.toLowerCase()] as const),
    ),
    onlyNamedAgents: o.onlyNamedAgents ?? false,
    tokenExchangeScope: o.tokenExchangeScope ?? DEFAULTS.tokenExchangeScope,
  };
}

/**
 * `defaults` overlaid with the given values that are set: an option given as `undefined` (what a
 * config service answers for an unset key) means its default, never "none".
 */
export function withDefaults<T extends object>(
  defaults: Required<T>,
  given: T | undefined,
): Required<T> {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v !== undefined && k in defaults) out[k] = v;
  }
  return out as Required<T>;
}

/** The `mtls` option resolved (validated by the schema: an Entra endpoint it cannot derive is refused). */
function mtlsSetting(c: {
  protocol?: 'entra' | 'oidc';
  authorityHost?: string;
  mtls?: boolean | { region?: string; authorityHost?: string };
}): MtlsSetting | undefined {
  if (c.mtls === undefined || c.mtls === false) return undefined;
  if (c.protocol === 'oidc') return {};
  const where = entraMtlsOrigin(
    c.authorityHost ?? DEFAULTS.authorityHost,
    c.mtls === true ? {} : c.mtls,
  );
  return 'origin' in where ? { entraOrigin: where.origin } : {};
}
