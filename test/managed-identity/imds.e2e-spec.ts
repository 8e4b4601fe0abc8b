import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { HealthIndicatorService } from '@nestjs/terminus';
import { startDevAuthority, type ManagedIdentity } from '@app/dev-authority';
import {
  ClientCredentialsHealthIndicator,
  type CredentialHealth,
} from '@app/client-credentials/health';
// Internal: what the shared cache's lock hands to waiting replicas.
import { isShareable } from '@app/client-credentials/shared-cache/lock-failure';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';
import { useSteadily } from './steady-use';

const [authority] = useFixtures(startDevAuthority);

/**
 * The managed identity source on VMs, scale sets and AKS nodes: msal-node finds no App Service,
 * Arc, Cloud Shell or Service Fabric variables and asks IMDS, here the local authority's through
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST` (never 169.254.169.254). msal picks its source once per
 * process, so IMDS has this file (its own jest worker) to itself.
 */
describe('Managed identity on IMDS (VMs, scale sets, AKS nodes)', () => {
  let http: AuthorityHttp;
  let tenantId: string;
  let system: ManagedIdentity;
  let user: ManagedIdentity;
  const apps: TokenApp[] = [];
  const env = { ...process.env };
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });

  beforeAll(() => {
    metrics.setGlobalMeterProvider(provider);
    http = new AuthorityHttp(authority);
    Object.assign(process.env, authority.imds.environment);
    tenantId = authority.createTenant().tenantId;
    system = authority.createManagedIdentity({ tenantId, kind: 'system' });
    user = authority.createManagedIdentity({ tenantId, kind: 'user' });
  });
  afterAll(async () => {
    await releaseAll(...apps, http);
    process.env = env;
    await provider.shutdown();
    metrics.disable();
  });

  async function start(...args: Parameters<typeof startTokenApp>): Promise<TokenApp> {
    const app = await startTokenApp(...args);
    apps.push(app);
    return app;
  }

  const imdsAnswers = (clientId?: string) =>
    authority.log
      .filter((e) => e.target === 'imds' && (clientId === undefined || e.clientId === clientId))
      .map((e) => e.status);

  it('system- and user-assigned (client, object, resource id) tokens the API accepts; stats, health and metrics say imds', async () => {
    authority.resetLog();
    const { tokens, logger } = await start({
      credentials: {
        system: localManagedIdentity(authority),
        byClientId: localManagedIdentity(authority, { clientId: user.clientId }),
        byObjectId: localManagedIdentity(authority, { objectId: user.objectId }),
        byResourceId: localManagedIdentity(authority, { resourceId: user.resourceId }),
      },
      defaultCredential: 'system',
    });
    const expected = {
      system: system.clientId,
      byClientId: user.clientId,
      byObjectId: user.clientId,
      byResourceId: user.clientId,
    };
    for (const [credential, clientId] of Object.entries(expected)) {
      const token = await tokens.getAccessToken(authority.apiScope, { credential });
      const api = await http.callApi(authority.apiUrl, token.token);
      expect({ credential, status: api.status, appid: api.json.appid }).toEqual({
        credential,
        status: 200,
        appid: clientId,
      });
      expect(tokens.getStats(credential).managedIdentityHost).toBe('imds');
    }
    expect(imdsAnswers(system.clientId)).toEqual([200]);
    expect(imdsAnswers(user.clientId)).toEqual([200, 200, 200]);
    // Token requests that went well log nothing, at any level.
    expect(logger.text).toBe('');

    const health = new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
    const details = health.isHealthy('credentials').credentials.credentials as Record<
      string,
      CredentialHealth
    >;
    expect(details.system).toMatchObject({ status: 'up', managedIdentityHost: 'imds' });

    await reader.forceFlush();
    const requests = exporter
      .getMetrics()
      .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
      .find((m) => m.descriptor.name === 'client_credentials.token_requests');
    expect(
      requests?.dataPoints.find(
        (p) => p.attributes.credential === 'system' && p.attributes.outcome === 'ok',
      )?.attributes,
    ).toMatchObject({ source: 'managed-identity#0', managed_identity_host: 'imds' });
  });

  it('an identity the VM does not have: a typed error naming the identity to assign, after one IMDS request', async () => {
    authority.resetLog();
    const missing = '00000000-0000-0000-0000-0000000000cc';
    const { tokens } = await start({
      credentials: { missing: localManagedIdentity(authority, { clientId: missing }) },
    });
    const failure = await tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'source_unavailable', transient: false });
    expect(String(failure)).toContain(
      `assign the user-assigned identity with client id ${missing}`,
    );
    expect(String(failure)).toContain('VM, scale set or AKS node pool');
    // IMDS's 400 is a fact about the host: neither msal nor the token path asks again.
    expect(imdsAnswers()).toEqual([400]);
  });

  it('a 503 of IMDS is retried with backoff by the token path', async () => {
    authority.resetLog();
    const { tokens } = await start({
      credentials: { flaky: localManagedIdentity(authority, { clientId: user.clientId }) },
      retry: { maxAttempts: 3, initialDelayMs: 50 },
    });
    authority.faults.add({ target: 'imds', kind: 'status', status: 503, times: 2 });
    const token = await tokens.getAccessToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    expect(imdsAnswers()).toEqual([503, 503, 200]);
  });

  it("a 429 of IMDS is this VM's own (IMDS throttles per VM): never shared through a token lock", async () => {
    const { tokens } = await start({
      credentials: { busy: localManagedIdentity(authority, { clientId: user.clientId }) },
      retry: { maxAttempts: 1 },
    });
    authority.faults.add({ target: 'imds', kind: 'status', status: 429, times: 1 });
    const failure = await tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'throttled', status: 429 });
    // What a lock holder would hand to replicas on other hosts: nothing, they ask their own IMDS.
    expect(isShareable(failure)).toBe(false);
  });

  // Off Azure, IMDS's address is another cloud's metadata service, which answers IMDS's path in
  // its own way: "no managed identity here", not an authority's protocol error.
  it.each([
    [404, 'AWS IMDSv1, HTML'],
    [401, 'AWS IMDSv2-only, empty'],
    [403, 'GCP, text'],
  ])(
    "another cloud's metadata service (%i, %s), which names itself in its headers: keyless on Azure, a secret elsewhere — one IMDS request, then the secret; the source is skipped for its cool-down",
    async (status) => {
      authority.resetLog();
      const tenant = authority.createTenant();
      const reg = tenant.createApp();
      const fault = authority.faults.add({ target: 'imds', kind: 'foreign-metadata', status });
      try {
        const { tokens } = await start({
          credentials: {
            chain: localCredential(authority, tenant.tenantId, reg.clientId, [
              { type: 'managed-identity-assertion' },
              { type: 'secret', secret: reg.addSecret() },
            ]),
            alone: localManagedIdentity(authority),
          },
          defaultCredential: 'chain',
        });
        const token = await tokens.getAccessToken(authority.apiScope);
        expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
        expect(imdsAnswers()).toEqual([status]);
        expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(1);
        const skipped = tokens.getStats('chain').skippedSources?.['managed-identity-assertion#0'];
        expect(skipped?.reason).toContain(`imds endpoint's address answered HTTP ${status}`);
        await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
        expect(imdsAnswers()).toEqual([status]);

        // A managed identity source alone: a typed error, after one request, that says so.
        const failure = await tokens
          .getAccessToken(authority.apiScope, { credential: 'alone' })
          .catch((e: unknown) => e);
        expect(failure).toMatchObject({ code: 'source_unavailable', transient: false });
        expect(String(failure)).toContain(`HTTP ${status}`);
        expect(String(failure)).not.toContain('authorityHost');
        expect(imdsAnswers()).toEqual([status, status]);
      } finally {
        authority.faults.remove(fault);
      }
    },
  );

  it('IMDS being updated answers an empty 404: msal asks again, and the call gets its token', async () => {
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    const { tokens } = await start({
      credentials: { api: localManagedIdentity(authority, { clientId: mi.clientId }) },
      // One attempt of the token path: the second request is msal's retry of the 404.
      retry: { maxAttempts: 1 },
    });
    authority.resetLog();
    authority.faults.add({ target: 'imds', kind: 'status', status: 404, body: 'empty', times: 1 });
    const token = await tokens.getAccessToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    expect(imdsAnswers()).toEqual([404, 200]);
    expect(tokens.getStats('api').skippedSources).toBeUndefined();
  });

  it('a service that is no IMDS and names no cloud, answering a text 404: no managed identity here once msal has asked 3 more times; a chain moves on', async () => {
    authority.resetLog();
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const fault = authority.faults.add({
      target: 'imds',
      kind: 'status',
      status: 404,
      body: 'text',
    });
    try {
      const { tokens } = await start({
        credentials: {
          chain: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'managed-identity-assertion' },
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
      });
      const token = await tokens.getAccessToken(authority.apiScope);
      expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
      // msal's request and its 3 retries (1, 2 and 4 s apart), then the secret.
      expect(imdsAnswers()).toEqual([404, 404, 404, 404]);
      expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(1);
      const skipped = tokens.getStats('chain').skippedSources?.['managed-identity-assertion#0'];
      expect(skipped?.reason).toContain(
        "imds endpoint's address answered HTTP 404 (text/plain, 23 bytes) 4 times in a row",
      );
    } finally {
      authority.faults.remove(fault);
    }
  }, 20_000);

  it('host maintenance answered with a text 410: waited out as a JSON one', async () => {
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    const { tokens } = await start({
      credentials: { api: localManagedIdentity(authority, { clientId: mi.clientId }) },
      retry: { maxAttempts: 1 },
    });
    authority.resetLog();
    authority.imds.maintenance(2500, { body: 'text' });
    const token = await tokens.getAccessToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    const answers = imdsAnswers(mi.clientId);
    expect(answers.at(-1)).toBe(200);
    expect(answers.slice(0, -1).every((s) => s === 410)).toBe(true);
    // More 410s than the 1 + 3 attempts of msal's or the token path's: the maintenance rule's.
    expect(answers.length - 1).toBeGreaterThanOrEqual(2);
    expect(tokens.getStats('api').tokenRequests).toBe(1);
  }, 20_000);

  it('host maintenance (410 for 5 s): no caller with a valid token fails; a cold caller gets its token after the 410s, retried past the ordinary attempt count', async () => {
    // Tokens of this tenant live 40 s and are refreshed after 4 s: inside the window.
    const maintenanceTenant = authority.createTenant().tenantId;
    authority.setAccessTokenLifetime(40, { tenantId: maintenanceTenant });
    const warmIdentity = authority.createManagedIdentity({
      tenantId: maintenanceTenant,
      kind: 'user',
    });
    const coldIdentity = authority.createManagedIdentity({
      tenantId: maintenanceTenant,
      kind: 'user',
    });
    const warm = await start({
      credentials: { warm: localManagedIdentity(authority, { clientId: warmIdentity.clientId }) },
      refresh: { refreshAt: 0.1, jitter: 0 },
    });
    const cold = await start({
      credentials: { cold: localManagedIdentity(authority, { clientId: coldIdentity.clientId }) },
      // One attempt: every further request is the 410 rule's, not the token path's retries.
      retry: { maxAttempts: 1 },
    });
    const first = await warm.tokens.getAccessToken(authority.apiScope);
    authority.resetLog();

    authority.imds.maintenance(5000);
    const coldCall = cold.tokens.getAccessToken(authority.apiScope);
    // Callers holding a token during the window (the background refresh falls inside it).
    const outcomes: string[] = [];
    for (let i = 0; i < 28; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const got = await warm.tokens.getAccessToken(authority.apiScope).then(
        (t) => `ok:${t.source}`,
        (e: { code?: string }) => `failed:${e.code}`,
      );
      outcomes.push(got);
    }
    const coldToken = await coldCall;

    expect(outcomes.filter((o) => o.startsWith('failed'))).toEqual([]);
    expect(outcomes.every((o) => o === 'ok:cache')).toBe(true);
    // The refresh that met the window got a new token once IMDS was back.
    expect(imdsAnswers(warmIdentity.clientId).at(-1)).toBe(200);
    expect(
      imdsAnswers(warmIdentity.clientId)
        .slice(0, -1)
        .every((s) => s === 410),
    ).toBe(true);
    expect(warm.tokens.getStats('warm').refreshes).toBe(1);
    const refreshed = await warm.tokens.getAccessToken(authority.apiScope);
    expect(refreshed.token).not.toBe(first.token);

    expect((await http.callApi(authority.apiUrl, coldToken.token)).status).toBe(200);
    const coldAnswers = imdsAnswers(coldIdentity.clientId);
    expect(coldAnswers.at(-1)).toBe(200);
    expect(coldAnswers.slice(0, -1).every((s) => s === 410)).toBe(true);
    // Five or more 410s in one acquisition of one attempt: more than msal's 1 + 3 attempts.
    expect(coldAnswers.length - 1).toBeGreaterThanOrEqual(5);
    expect(cold.tokens.getStats('cold').tokenRequests).toBe(1);
  }, 30_000);

  it('IMDS hands its cached token back: a background refresh that gets it unchanged asks again once IMDS mints, not at half of what is left', async () => {
    // Tokens of 12 s that IMDS keeps until 2 s before expiry (Azure: 24 h, until the last
    // minutes): as a day of a real token, in 13.5 s. The library's skew (0.5 s) below a twelfth
    // of the lifetime, as 2 minutes are of a day; no jitter: the first refresh at half-life.
    const own = authority.createTenant().tenantId;
    authority.setAccessTokenLifetime(12, { tenantId: own, identityCacheMarginSeconds: 2 });
    const mi = authority.createManagedIdentity({ tenantId: own, kind: 'user' });
    const { tokens } = await start({
      credentials: { api: localManagedIdentity(authority, { clientId: mi.clientId }) },
      refresh: { expirySkewSeconds: 0.5, jitter: 0 },
    });

    const use = await useSteadily(tokens, authority.apiScope, 13_500);

    // The first token (0 s), the same one back at half-life (~6 s), a new one once IMDS mints
    // (~11 s; its own refresh after 15.5 s). Halving what is left after each unchanged answer
    // asked at 6, 8.75 (handed back again) and 10.1 s.
    expect(authority.countTokenRequests({ clientId: mi.clientId, target: 'imds' })).toBe(3);
    expect(use.failed).toBe(0);
    expect(use.tokens).toHaveLength(2);
    expect((await http.callApi(authority.apiUrl, use.tokens[1])).status).toBe(200);
  }, 30_000);
});
