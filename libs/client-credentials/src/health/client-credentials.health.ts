import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { TokenService } from '../token.service';
import type {
  CredentialStats,
  RecordedError,
  TenantStats,
} from '../observability/credential-stats';

const DAY_MS = 24 * 60 * 60 * 1000;

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
   * An agent identity blueprint's agents whose last token request failed, by agent app id (a
   * deleted agent, say). Like other tenants, they do not fail the blueprint while it works for
   * itself or for another agent.
   */
  failingAgents?: Record<string, TenantFailure>;
}

/**
 * A `@nestjs/terminus` health indicator for the credentials of {@link TokenService}: per credential,
 * the last success, the expiry of its last token, its last error code and, for certificates, the
 * days left. It never throws and never calls the authority: it reads what the service recorded.
 *
 * A credential is `down` when it has no token yet (unless `requireToken: false`), when its last
 * token request failed after its last token expired, or when its certificate has expired; it is
 * `degraded` (still serving a valid token) when a refresh failed or its certificate expires soon.
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
    const credentials: Record<string, CredentialHealth> = {};
    for (const name of names) {
      let stats: Readonly<CredentialStats>;
      try {
        stats = this.tokens.getStats(name);
      } catch {
        credentials[name] = { status: 'down', reason: 'not a configured credential' };
        continue;
      }
      credentials[name] = credentialHealth(stats, options, Date.now());
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
): CredentialHealth {
  const health: CredentialHealth = {
    status: 'up',
    lastSuccessAt: s.lastSuccessAt?.toISOString(),
    tokenExpiresOn: s.lastTokenExpiresOn?.toISOString(),
    lastError: s.lastError && failure(s.lastError),
    managedIdentityHost: s.managedIdentityHost,
  };
  const problems: { status: 'degraded' | 'down'; reason: string }[] = [];
  // Other tenants, and a blueprint's agents: what one of them says is its own.
  const others = [...Object.values(s.tenants ?? {}), ...Object.values(s.agents ?? {})];
  const failingTenants = Object.entries(s.tenants ?? {}).filter(([, t]) => failing(t));
  if (failingTenants.length > 0) {
    health.failingTenants = Object.fromEntries(
      failingTenants.map(([tenant, t]) => [tenant, failure(t.lastError!)]),
    );
  }
  const failingAgents = Object.entries(s.agents ?? {}).filter(([, t]) => failing(t));
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
    others.some((t) => t.lastSuccessAt !== undefined && !failing(t)) ||
    (s.forgottenWorkingTenants ?? 0) > 0;
  if (failing(s)) {
    const tokenValid = s.lastTokenExpiresOn !== undefined && s.lastTokenExpiresOn.getTime() > now;
    problems.push(
      tokenValid
        ? { status: 'degraded', reason: `last token request failed (${s.lastError!.code})` }
        : { status: 'down', reason: `token request failed (${s.lastError!.code})` },
    );
  } else if (!homeUsed && !anotherWorks && failingTenants.length > 0) {
    const code = failingTenants[0][1].lastError!.code;
    const where = s.agents === undefined ? 'in every tenant' : 'for every tenant and agent';
    problems.push({ status: 'down', reason: `token requests failed ${where} (${code})` });
  } else if (!homeUsed && !anotherWorks && (options.requireToken ?? true)) {
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
  const worst = problems.find((p) => p.status === 'down') ?? problems[0];
  if (worst !== undefined) {
    health.status = worst.status;
    health.reason = problems.map((p) => p.reason).join('; ');
  }
  return health;
}

/** Whether the last token request of a tenant failed (no success since its last error). */
function failing(t: Readonly<TenantStats>): boolean {
  return (
    t.lastError !== undefined &&
    (t.lastSuccessAt === undefined || t.lastError.at.getTime() >= t.lastSuccessAt.getTime())
  );
}

function failure(e: RecordedError): TenantFailure {
  return { code: e.code, aadsts: e.aadsts, at: e.at.toISOString() };
}
