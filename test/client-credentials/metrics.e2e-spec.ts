import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { startDevAuthority } from '@app/dev-authority';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

/** The counters and histogram an app sees once it registers the OpenTelemetry SDK. */
describe('TokenService metrics through OpenTelemetry', () => {
  let app: TokenApp;
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });

  beforeAll(() => {
    // As an app does: the SDK is registered before the module starts.
    metrics.setGlobalMeterProvider(provider);
  });
  afterAll(async () => {
    await releaseAll(app);
    await provider.shutdown();
    metrics.disable();
  });

  it('counts cache hits and misses, token requests by outcome, and times requests', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
        broken: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong' },
        ]),
      },
      defaultCredential: 'api',
    });
    for (let i = 0; i < 5; i++) await app.tokens.getAccessToken(authority.apiScope);
    await app.tokens
      .getAccessToken(authority.apiScope, { credential: 'broken' })
      .catch(() => undefined);

    await reader.forceFlush();
    const points = new Map<string, { attributes: Record<string, unknown>; value: unknown }[]>();
    for (const rm of exporter.getMetrics())
      for (const sm of rm.scopeMetrics)
        for (const m of sm.metrics) points.set(m.descriptor.name, m.dataPoints);
    const value = (name: string, attrs: Record<string, string>) =>
      points.get(name)?.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
        ?.value;

    expect(value('client_credentials.cache.hits', { credential: 'api' })).toBe(4);
    expect(value('client_credentials.cache.misses', { credential: 'api' })).toBe(1);
    expect(value('client_credentials.token_requests', { credential: 'api', outcome: 'ok' })).toBe(
      1,
    );
    expect(
      value('client_credentials.token_requests', {
        credential: 'broken',
        outcome: 'credential_rejected',
      }),
    ).toBe(1);
    expect(
      value('client_credentials.token_request.duration', { credential: 'api', outcome: 'ok' }),
    ).toMatchObject({ count: 1 });
    // Per token obtained, never per hit: one token, one lifetime recorded (about its lifetime).
    const lifetime = value('client_credentials.token.remaining_lifetime', {
      credential: 'api',
      origin: 'authority',
      trigger: 'caller',
    }) as { count: number; sum: number };
    expect(lifetime.count).toBe(1);
    expect(lifetime.sum).toBeGreaterThan(60);
    expect(lifetime.sum).toBeLessThanOrEqual(86_400);
  });

  it('keeps one series per credential however many tenants it serves: no tenant id is a label', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const secret = reg.addSecret();
    const customers = Array.from({ length: 30 }, () => authority.createTenant());
    customers.forEach((c, i) => {
      // Two thirds consented (the app has a service principal there); the rest did not.
      if (i % 3 !== 0) c.createApp({ clientId: reg.clientId });
    });
    const tenants = await startTokenApp({
      credentials: {
        multi: localCredential(authority, home.tenantId, reg.clientId, [
          { type: 'secret', secret },
        ]),
      },
      retry: { maxAttempts: 1 },
    });
    try {
      await tenants.tokens.getAccessToken(authority.apiScope);
      for (const c of customers) {
        await tenants.tokens
          .getAccessToken(authority.apiScope, { tenantId: c.tenantId })
          .catch(() => undefined);
      }

      exporter.reset();
      await reader.forceFlush();
      const all = exporter
        .getMetrics()
        .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
        .filter((m) => m.descriptor.name.startsWith('client_credentials.'));
      const series = (name: string) =>
        all
          .filter((m) => m.descriptor.name === name)
          .flatMap(
            (m) => m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[],
          );
      for (const m of all) {
        for (const p of m.dataPoints) expect(Object.keys(p.attributes)).not.toContain('tenant');
      }
      expect(
        series('client_credentials.token.expires_in_seconds').filter(
          (p) => p.attributes.credential === 'multi',
        ),
      ).toHaveLength(1);
      const tenantsGauge = series('client_credentials.tenants').filter(
        (p) => p.attributes.credential === 'multi',
      );
      expect(
        Object.fromEntries(tenantsGauge.map((p) => [p.attributes.state as string, p.value])),
      ).toEqual({ ok: 20, failing: 10 });
    } finally {
      await tenants.close();
    }
  });
});
