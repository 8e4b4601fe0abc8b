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
  });
});
