import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { TokenService } from '../token.service';
import type { WarmUpProgress } from '../client-credentials.events';
import {
  isFailing,
  type CredentialStats,
  type RecordedError,
  type TenantStats,
} from '../observability/credential-stats';

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * A scope whose last request failed longer ago than this, and was not asked for since (a one-off
 * call with a wrong scope), is still listed in `failingScopes` but no longer judges a credential
 * that works otherwise: a scope in use that fails is asked for again within minutes (cool-downs
 * last seconds).
 */
const STALE_SCOPE_FAILURE_MS = 60 * 60 * 1000;

/** Options of {@link ClientCredentialsHealthIndicator.isHealthy}. */
export interface ClientCredentialsHealthOptions {
  /**
   * The credentials to report on.
   * @default every configured credential
   */
  credentials?: readonly string[];
  /**
   * Report a credential that has not produced a token yet as `down` (a readiness check); when
   * false it is `up` until its first failure (a liveness-style check).
   * @default true
   */
  requireToken?: boolean;
  /**
   * Report a certificate credential as `degraded` when its certificate expires within this many
   * days (an expired certificate is `down`).
   * @default 30
   */
  certificateWarningDays?: number;
}

/** The last failure of a tenant: its stable code, AADSTS number and time; never a secret. */
export interface TenantFailure {
  code: string;
  aadsts?: number;
  at: string;
}

/** What the indicator reports for one credential (dates as ISO strings). */
export interface CredentialHealth {
  status: 'up' | 'degraded' | 'down';
  /** Why it is not `up`. */
  reason?: string;
  lastSuccessAt?: string;
  /** Expiry of the token obtained last. */
  tokenExpiresOn?: string;
  /** The last failure: its stable code, AADSTS number and time; never a secret. */
  lastError?: { code: string; aadsts?: number; at: string };
  /**
   * Where the managed identity's tokens come from (`imds`, `app-service`, `azure-arc`…), for a
   * credential with a managed identity source: tells a VM's IMDS from an App Service endpoint.
   */
  managedIdentityHost?: string;
  /** Whole days until the certificate expires (negative once expired); certificate sources only. */
  certificateExpiresInDays?: number;
  /**
   * Other tenants (asked for with the `tenantId` option) whose last token request failed, by
   * tenant: a customer that has not consented yet. They do not fail the credential while its own
   * tenant works.
   */
  failingTenants?: Record<string, TenantFailure>;
  /**
   * Scopes (a request's scopes joined by a space) whose last token request in the credential's own
   * tenant failed. One that fails while another scope works makes the credential `degraded`, not
   * `down`, and is not hidden by the other's successes.
   */
  failingScopes?: Record<string, TenantFailure>;
  /**
   * An agent identity blueprint's agents whose last token request failed, by agent app id (a
   * deleted agent, say). Like other tenants, they do not fail the blueprint while it works for
   * itself or for another agent.
   */
  failingAgents?: Record<string, TenantFailure>;
  /**
   * Its tokens of the warm-up (`warmUp` option): declared, obtained, given up on. While some are
   * pending, the credential is `down` (not ready), unless `requireToken: false`.
   */
  warmUp?: WarmUpProgress;
}

/**
 * A `@nestjs/terminus` health indicator for the credentials of {@link TokenService}: per credential,
 * the last success, the expiry of its last token, its last error code and, for certificates, the
 * days left. It never throws and never calls the authority: it reads what the service recorded.
 *
 * A credential is `down` when it has no token yet (unless `requireToken: false`), when its last
 * token request failed after its last token expired, or when its certificate has expired; it is
 * `degraded` (still serving a valid token) when a refresh failed, its certificate expires soon or
 * its certificate file was replaced by one that cannot be loaded (`CredentialStats.sourceProblems`).
 * This is judged on the credential's own tenant; other tenants whose last request failed are
 * listed in `failingTenants`. A credential only ever used for other tenants is judged on them: up
 * while one of them works.
 *
 * Provide it next to `TerminusModule` in a module that can inject `TokenService`.
 * @publicApi
 * @example
 * ```ts
 * @Get('ready')
 * @HealthCheck()
 * ready() {
 *   return this.health.check([() => this.credentials.isHealthy('credentials')]);
 * }
 * ```
 */
@Injectable()
export class ClientCredentialsHealthIndicator {
  constructor(
    private readonly tokens: TokenService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** The health of the credentials under `key`: `down` if any is down. */
  isHealthy<const Key extends string>(
    key: Key,
    options: ClientCredentialsHealthOptions = {},
  ): HealthIndicatorResult<Key> {
    const session = this.indicators.check(key);
    const names = options.credentials ?? this.tokens.credentialNames;
    const warmUp = this.tokens.getWarmUpStatus();
    const credentials: Record<string, CredentialHealth> = {};
    for (const name of names) {
      let stats: Readonly<CredentialStats>;
      try {
        stats = this.tokens.getStats(name);
      } catch {
        credentials[name] = { status: 'down', reason: 'not a configured credential' };
        continue;
      }
      const progress = warmUp?.credentials[name];
      const warming = warmUp?.state === 'pending' ? progress : undefined;
      credentials[name] = credentialHealth(stats, options, Date.now(), progress, warming);
    }
    const statuses = Object.values(credentials).map((c) => c.status);
    if (statuses.includes('down')) return session.down({ credentials });
    if (statuses.includes('degraded')) return session.degraded({ credentials });
    return session.up({ credentials });
  }
}

function credentialHealth(
  s: Readonly<CredentialStats>,
  options: ClientCredentialsHealthOptions,
  now: number,
  warmUp?: WarmUpProgress,
  /** Its warm-up's progress while the warm-up runs. */
  warming?: WarmUpProgress,
): CredentialHealth {
  const health: CredentialHealth = {
    status: 'up',
    lastSuccessAt: s.lastSuccessAt?.toISOString(),
    tokenExpiresOn: s.lastTokenExpiresOn?.toISOString(),
    lastError: s.lastError && failure(s.lastError),
    managedIdentityHost: s.managedIdentityHost,
  };
  const problems: { status: 'degraded' | 'down'; reason: string }[] = [];
  if (warmUp !== undefined) health.warmUp = { ...warmUp };
  const requireToken = options.requireToken ?? true;
  if (
    warming !== undefined &&
    requireToken &&
    warming.obtained + warming.failed < warming.declared
  ) {
    problems.push({
      status: 'down',
      reason: `warming up (${warming.obtained} of ${warming.declared} tokens obtained)`,
    });
  }
  // Other tenants, and a blueprint's agents: what one of them says is its own.
  const others = [...Object.values(s.tenants ?? {}), ...Object.values(s.agents ?? {})];
  const failingTenants = Object.entries(s.tenants ?? {}).filter(([, t]) => isFailing(t));
  if (failingTenants.length > 0) {
    health.failingTenants = Object.fromEntries(
      failingTenants.map(([tenant, t]) => [tenant, failure(t.lastError!)]),
    );
  }
  const failingAgents = Object.entries(s.agents ?? {}).filter(([, t]) => isFailing(t));
  if (failingAgents.length > 0) {
    health.failingAgents = Object.fromEntries(
      failingAgents.map(([agent, t]) => [agent, failure(t.lastError!)]),
    );
  }
  failingTenants.push(...failingAgents);
  // A credential used for other tenants only (a multi-tenant app) is judged on them.
  const homeUsed = s.lastSuccessAt !== undefined || s.lastError !== undefined;
  // Tenants past the 1,000 kept count too: the most recent ones failing (new customers that have
  // not consented) does not make the credential down where it still works.
  const anotherWorks =
    others.some((t) => t.lastSuccessAt !== undefined && !isFailing(t)) ||
    (s.forgottenWorkingTenants ?? 0) > 0;
  const ownProblem =
    s.scopes === undefined
      ? lastOutcomeProblem(s, now)
      : scopesProblem(s, health, now, anotherWorks);
  if (ownProblem !== undefined) {
    problems.push(ownProblem);
  } else if (!homeUsed && !anotherWorks && failingTenants.length > 0) {
    const code = failingTenants[0][1].lastError!.code;
    const where = s.agents === undefined ? 'in every tenant' : 'for every tenant and agent';
    problems.push({ status: 'down', reason: `token requests failed ${where} (${code})` });
  } else if (!homeUsed && !anotherWorks && requireToken) {
    problems.push({ status: 'down', reason: 'no token obtained yet' });
  }
  if (s.certificateNotAfter !== undefined) {
    const days = Math.floor((s.certificateNotAfter.getTime() - now) / DAY_MS);
    health.certificateExpiresInDays = days;
    if (s.certificateNotAfter.getTime() <= now) {
      problems.push({ status: 'down', reason: 'certificate expired' });
    } else if (days < (options.certificateWarningDays ?? 30)) {
      problems.push({ status: 'degraded', reason: `certificate expires in ${days} days` });
    }
  }
  // A source that works but needs an operator (a replaced certificate file that cannot be loaded).
  for (const [source, p] of Object.entries(s.sourceProblems ?? {})) {
    problems.push({ status: 'degraded', reason: `source ${source}: ${p.reason}` });
  }
  const worst = problems.find((p) => p.status === 'down') ?? problems[0];
  if (worst !== undefined) {
    health.status = worst.status;
    health.reason = problems.map((p) => p.reason).join('; ');
  }
  return health;
}

/** Whether the last token request of a tenant failed (no success since its last error). */
type Problem = { status: 'degraded' | 'down'; reason: string };

const validAt = (t: Readonly<TenantStats>, now: number) =>
  t.lastTokenExpiresOn !== undefined && t.lastTokenExpiresOn.getTime() > now;

/** The home tenant judged on its last outcome, whatever its scope (stats without `scopes`). */
function lastOutcomeProblem(s: Readonly<CredentialStats>, now: number): Problem | undefined {
  if (!isFailing(s)) return undefined;
  return validAt(s, now)
    ? { status: 'degraded', reason: `last token request failed (${s.lastError!.code})` }
    : { status: 'down', reason: `token request failed (${s.lastError!.code})` };
}

/**
 * The home tenant judged on each of its scopes: `down` when a scope fails without a valid token
 * and no scope (nor another tenant or agent) works; `degraded` when a scope fails while its token
 * is still valid, or while another works. Lists the failing scopes in `health.failingScopes`.
 */
function scopesProblem(
  s: Readonly<CredentialStats>,
  health: CredentialHealth,
  now: number,
  anotherWorks: boolean,
): Problem | undefined {
  const scopes = Object.entries(s.scopes ?? {});
  const failingScopes = scopes.filter(([, t]) => isFailing(t));
  if (failingScopes.length === 0) return undefined;
  health.failingScopes = Object.fromEntries(
    failingScopes.map(([scope, t]) => [scope, failure(t.lastError!)]),
  );
  const works =
    anotherWorks || scopes.some(([, t]) => t.lastSuccessAt !== undefined && !isFailing(t));
  // A one-off failure long past stops counting only beside something that works: with nothing
  // working, no caller may come to ask again (readiness keeps them away), and it stays `down`.
  const current = works
    ? failingScopes.filter(([, t]) => now - t.lastError!.at.getTime() < STALE_SCOPE_FAILURE_MS)
    : failingScopes;
  if (current.length === 0) return undefined;
  const broken = current.filter(([, t]) => !validAt(t, now));
  const [scope, t] = broken[0] ?? current[0];
  const code = t.lastError!.code;
  if (broken.length === 0) {
    return { status: 'degraded', reason: `last token request failed (${code})` };
  }
  return works
    ? { status: 'degraded', reason: `token requests for ${scope} fail (${code})` }
    : { status: 'down', reason: `token request failed (${code})` };
}

function failure(e: RecordedError): TenantFailure {
  return { code: e.code, aadsts: e.aadsts, at: e.at.toISOString() };
}
