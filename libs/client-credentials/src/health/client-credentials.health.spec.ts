import { HealthIndicatorService } from '@nestjs/terminus';
import {
  ClientCredentialsHealthIndicator,
  type CredentialHealth,
} from './client-credentials.health';
import type { TokenService } from '../token.service';
import { isFailing, snapshotOf, type CredentialStats } from '../observability/credential-stats';
import { TokenMetrics } from '../observability/token-metrics';
import type { WarmUpStatus } from '../client-credentials.events';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function indicator(stats: Record<string, Partial<CredentialStats>>, warmUp?: WarmUpStatus) {
  const tokens = {
    credentialNames: Object.keys(stats),
    getWarmUpStatus: () => warmUp,
    getStats: (name: string) => {
      if (!(name in stats)) throw new Error(`Unknown credential '${name}'`);
      return { failures: {}, ...stats[name] };
    },
  } as unknown as TokenService;
  return new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
}

const ago = (ms: number) => new Date(Date.now() - ms);
const ahead = (ms: number) => new Date(Date.now() + ms);
const error = (at: Date) => ({ code: 'credential_rejected', aadsts: 7000215, message: 'x', at });

describe('ClientCredentialsHealthIndicator', () => {
  describe('with a warm-up', () => {
    const warmUp = (state: WarmUpStatus['state'], obtained: number): WarmUpStatus => ({
      state,
      declared: 2,
      obtained,
      credentials: { api: { declared: 2, obtained, failed: 0 } },
      failures: [],
    });
    const working = { lastSuccessAt: ago(1000), lastTokenExpiresOn: ahead(HOUR) };

    it('is down (not ready) while a credential has warm-up tokens pending, even with a token', () => {
      const result = indicator({ api: working, other: working }, warmUp('pending', 1)).isHealthy(
        'credentials',
      );
      expect(result.credentials.status).toBe('down');
      const credentials = result.credentials.credentials as Record<string, CredentialHealth>;
      expect(credentials.api).toMatchObject({
        status: 'down',
        reason: 'warming up (1 of 2 tokens obtained)',
        warmUp: { declared: 2, obtained: 1, failed: 0 },
      });
      expect(credentials.other.status).toBe('up');
    });

    it('is up once the warm-up ended; a liveness check never waits for it', () => {
      const done = indicator({ api: working }, warmUp('completed', 2)).isHealthy('c');
      expect(done.c.status).toBe('up');
      const live = indicator({ api: {} }, warmUp('pending', 0)).isHealthy('c', {
        requireToken: false,
      });
      expect(live.c.status).toBe('up');
    });
  });

  it('is up when every credential has a token, with its expiry and certificate days', () => {
    const result = indicator({
      secret: { lastSuccessAt: ago(1000), lastTokenExpiresOn: ahead(HOUR) },
      cert: {
        lastSuccessAt: ago(1000),
        lastTokenExpiresOn: ahead(HOUR),
        certificateNotAfter: ahead(90 * DAY + HOUR),
      },
    }).isHealthy('credentials');
    expect(result.credentials.status).toBe('up');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.secret).toMatchObject({ status: 'up' });
    expect(details.secret.tokenExpiresOn).toMatch(/^\d{4}-/);
    expect(details.cert.certificateExpiresInDays).toBe(90);
  });

  it('is down, not throwing, for a credential without a token or failing with none valid', () => {
    const result = indicator({
      fresh: {},
      broken: { lastError: error(ago(10)) },
      expired: {
        lastSuccessAt: ago(2 * HOUR),
        lastTokenExpiresOn: ago(HOUR),
        lastError: error(ago(10)),
      },
    }).isHealthy('credentials');
    expect(result.credentials.status).toBe('down');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.fresh).toMatchObject({ status: 'down', reason: 'no token obtained yet' });
    expect(details.broken).toMatchObject({
      status: 'down',
      lastError: { code: 'credential_rejected', aadsts: 7000215 },
    });
    expect(details.expired.status).toBe('down');
  });

  it('is degraded while a valid token is served after a failed refresh or near certificate expiry', () => {
    const result = indicator({
      refreshing: {
        lastSuccessAt: ago(HOUR),
        lastTokenExpiresOn: ahead(HOUR),
        lastError: error(ago(10)),
      },
      cert: {
        lastSuccessAt: ago(10),
        lastTokenExpiresOn: ahead(HOUR),
        certificateNotAfter: ahead(5 * DAY + HOUR),
      },
    }).isHealthy('credentials');
    expect(result.credentials.status).toBe('degraded');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.refreshing.reason).toBe('last token request failed (credential_rejected)');
    expect(details.cert.reason).toBe('certificate expires in 5 days');
  });

  it('is degraded while a replaced certificate file cannot be loaded and the previous one signs', () => {
    const reason =
      "the certificate file '/certs/app.pem' was replaced by one that cannot be used: …";
    const result = indicator({
      cert: {
        lastSuccessAt: ago(10),
        lastTokenExpiresOn: ahead(HOUR),
        sourceProblems: { 'certificate#0': { reason, since: ago(HOUR) } },
      },
    }).isHealthy('credentials');
    expect(result.credentials.status).toBe('degraded');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.cert.reason).toBe(`source certificate#0: ${reason}`);
  });

  describe('judged on each scope of its own tenant', () => {
    const works = { lastSuccessAt: ago(1000), lastTokenExpiresOn: ahead(HOUR) };
    const fails = { lastError: error(ago(10)) };
    const scoped = (scopes: CredentialStats['scopes'], last: Partial<CredentialStats>) =>
      indicator({ api: { ...last, scopes } }).isHealthy('credentials').credentials
        .credentials as Record<string, CredentialHealth>;

    it('a scope failing while another works: degraded, listed — whichever came last', () => {
      for (const last of [works, fails]) {
        const { api } = scoped({ 'api://good/.default': works, 'api://bad/.default': fails }, last);
        expect(api).toMatchObject({
          status: 'degraded',
          reason: 'token requests for api://bad/.default fail (credential_rejected)',
          failingScopes: { 'api://bad/.default': { code: 'credential_rejected' } },
        });
      }
    });

    it('down while no scope works; up again once the failing one is obtained', () => {
      expect(scoped({ 'api://bad/.default': fails }, fails).api.status).toBe('down');
      const recovered = { ...works, lastError: error(ago(5000)) };
      const { api } = scoped({ 'api://bad/.default': recovered }, works);
      expect(api.status).toBe('up');
      expect(api.failingScopes).toBeUndefined();
    });

    it('a failed refresh of a scope whose token is valid: degraded', () => {
      const refreshing = { ...works, lastError: error(ago(10)) };
      expect(scoped({ 'api://a/.default': refreshing }, refreshing).api).toMatchObject({
        status: 'degraded',
        reason: 'last token request failed (credential_rejected)',
      });
    });

    it('a scope not asked for since it failed over an hour ago is listed, no longer judged', () => {
      const once = { lastError: error(ago(2 * HOUR)) };
      const { api } = scoped({ 'api://good/.default': works, 'api://typo/.default': once }, works);
      expect(api.status).toBe('up');
      expect(api.failingScopes).toMatchObject({ 'api://typo/.default': {} });
    });

    it('nothing working, an old failure still counts: down, however long since', () => {
      const never = { lastError: error(ago(2 * HOUR)) };
      expect(scoped({ 'api://a/.default': never }, never).api.status).toBe('down');
      const expired = {
        lastSuccessAt: ago(4 * HOUR),
        lastTokenExpiresOn: ago(3 * HOUR),
        lastError: error(ago(2 * HOUR)),
      };
      expect(scoped({ 'api://a/.default': expired }, expired).api.status).toBe('down');
    });
  });

  it('is down for an expired certificate and an unknown credential name', () => {
    const result = indicator({
      cert: { lastSuccessAt: ago(10), certificateNotAfter: ago(DAY) },
    }).isHealthy('credentials', { credentials: ['cert', 'nope'] });
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.cert).toMatchObject({ status: 'down', reason: 'certificate expired' });
    expect(details.nope).toEqual({ status: 'down', reason: 'not a configured credential' });
  });

  it('with requireToken: false, an unused credential is up', () => {
    const result = indicator({ idle: {} }).isHealthy('credentials', { requireToken: false });
    expect(result.credentials.status).toBe('up');
  });

  it('a customer tenant that refuses the app is listed, without failing the credential', () => {
    const notConsented = { ...error(ago(10)), code: 'request_rejected', aadsts: 700016 };
    const result = indicator({
      saas: {
        lastSuccessAt: ago(1000),
        lastTokenExpiresOn: ahead(HOUR),
        tenants: {
          'customer-a': { lastSuccessAt: ago(500), lastTokenExpiresOn: ahead(HOUR) },
          'customer-b': { lastError: notConsented },
        },
      },
    }).isHealthy('credentials');
    expect(result.credentials.status).toBe('up');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.saas.status).toBe('up');
    expect(details.saas.lastError).toBeUndefined();
    expect(details.saas.failingTenants).toEqual({
      'customer-b': { code: 'request_rejected', aadsts: 700016, at: notConsented.at.toISOString() },
    });
  });

  it('a credential used for other tenants only is up while one works, down when all fail', () => {
    const result = indicator({
      oneWorks: {
        tenants: {
          a: { lastSuccessAt: ago(500), lastTokenExpiresOn: ahead(HOUR) },
          b: { lastError: error(ago(10)) },
        },
      },
      allFail: { tenants: { a: { lastError: error(ago(10)) } } },
    }).isHealthy('credentials');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.oneWorks.status).toBe('up');
    expect(Object.keys(details.oneWorks.failingTenants ?? {})).toEqual(['b']);
    expect(details.allFail).toMatchObject({
      status: 'down',
      reason: 'token requests failed in every tenant (credential_rejected)',
    });
  });

  it('is not down while a tenant past the 1,000 kept still works, however the kept ones fail', () => {
    const failing = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`new-${i}`, { lastError: error(ago(10)) }]),
    );
    const result = indicator({
      multi: { tenants: failing, forgottenWorkingTenants: 1 },
    }).isHealthy('credentials');
    const details = result.credentials.credentials as Record<string, CredentialHealth>;
    expect(details.multi.status).toBe('up');
  });
});

describe('failing or working: the order of the outcomes, not the wall clock', () => {
  const scope = 'api://orders/.default';
  let metrics: TokenMetrics;
  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2026-12-08T12:00:00Z') });
    metrics = new TokenMetrics();
  });
  afterEach(() => {
    metrics.close();
    jest.useRealTimers();
  });
  const succeed = () => metrics.success('api', Date.now() + HOUR, undefined, undefined, scope);
  const fail = () =>
    metrics.failure('api', 'endpoint_unavailable', undefined, 'down', undefined, undefined, scope);
  const judged = () => {
    const stats = snapshotOf(metrics.of('api'));
    const health = indicator({ api: stats }).isHealthy('c').c;
    return { failing: isFailing(stats), status: health.status };
  };

  it('a failure after a success fails though the clock stepped back between them', () => {
    succeed();
    jest.setSystemTime(Date.now() - 60_000); // NTP steps the clock back a minute
    fail();

    const stats = snapshotOf(metrics.of('api'));
    expect(stats.lastError!.at.getTime()).toBeLessThan(stats.lastSuccessAt!.getTime());
    expect(judged()).toEqual({ failing: true, status: 'degraded' });
    // A success after it, the clock still behind the first success: working again.
    succeed();
    expect(judged()).toEqual({ failing: false, status: 'up' });
  });

  it('in the same millisecond, whichever came last decides — for health and metrics alike', () => {
    succeed();
    fail();
    expect(judged()).toEqual({ failing: true, status: 'degraded' });
    succeed();
    expect(judged()).toEqual({ failing: false, status: 'up' });
  });
});
