import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { newSharedCacheStats } from '../shared-cache/shared-cache-stats';
import { snapshotOf } from './credential-stats';
import { TokenMetrics } from './token-metrics';

describe('TokenMetrics', () => {
  it('keeps stats of any tenant name as a plain key: Object.prototype stays untouched', () => {
    const metrics = new TokenMetrics();
    metrics.failure('api', 'authority_error', undefined, 'failed', '__proto__');
    metrics.success('api', Date.now() + 60_000, 'constructor');
    expect(({} as Record<string, unknown>).lastError).toBeUndefined();
    expect(({} as Record<string, unknown>).lastSuccessAt).toBeUndefined();
    expect(Object.keys(metrics.of('api').tenants ?? {})).toEqual(['__proto__', 'constructor']);
  });

  it('counts a working tenant pushed out by 1,000 failing ones, until it is heard of again', () => {
    const metrics = new TokenMetrics();
    metrics.success('api', Date.now() + 60_000, 'works');
    for (let i = 0; i < 1000; i++)
      metrics.failure('api', 'credential_rejected', 7000229, 'no', `new-${i}`);
    const stats = metrics.of('api');
    expect(Object.keys(stats.tenants ?? {})).not.toContain('works');
    expect(stats.forgottenWorkingTenants).toBe(1);
    // Heard of again, it is judged on what it says now.
    metrics.failure('api', 'credential_rejected', 7000229, 'no', 'works');
    expect(stats.forgottenWorkingTenants).toBe(0);
  });

  it("keeps a refusal of an agent's request under that request only; the agent's own failures mark it", () => {
    const metrics = new TokenMetrics();
    metrics.success('fleet', Date.now() + 60_000, undefined, 'a1', 'api://x/.default');
    const nobody = 'user=nobody@x.example api://x/Read';
    metrics.failure('fleet', 'request_rejected', 50034, 'no', undefined, 'a1', nobody, 'request');
    const agent = () => metrics.of('fleet').agents!.a1;
    expect(agent()).toMatchObject({ lastOutcome: 'success' });
    expect(agent().lastError).toBeUndefined();
    expect(agent().scopes![nobody]).toMatchObject({ lastOutcome: 'failure' });
    expect(metrics.of('fleet').failures).toEqual({ request_rejected: 1 });
    // A snapshot shares nothing with the live record, its requests included.
    const snapshot = snapshotOf(metrics.of('fleet'));
    metrics.failure(
      'fleet',
      'request_rejected',
      700016,
      'gone',
      undefined,
      'a1',
      'api://x/.default',
    );
    expect(agent()).toMatchObject({ lastOutcome: 'failure', lastError: { aadsts: 700016 } });
    expect(snapshot.agents!.a1.scopes!['api://x/.default'].lastOutcome).toBe('success');
    // Callers name the users: at most 20 requests kept per agent, the least recent forgotten.
    for (let i = 0; i < 30; i++) {
      metrics.failure(
        'fleet',
        'request_rejected',
        50034,
        'no',
        undefined,
        'a1',
        `u${i}`,
        'request',
      );
    }
    expect(Object.keys(agent().scopes!)).toEqual(
      Array.from({ length: 20 }, (_, i) => `u${i + 10}`),
    );
  });

  it("exports the shared cache's counters of this replica, and whether it is connected", async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      const stats = { ...newSharedCacheStats(), connected: true, lockWaitHits: 3, timeouts: 2 };
      new TokenMetrics().watchSharedCache(() => stats);
      const read = async () => {
        exporter.reset();
        await reader.forceFlush();
        const values = new Map<string, unknown>();
        for (const rm of exporter.getMetrics())
          for (const sm of rm.scopeMetrics)
            for (const m of sm.metrics) values.set(m.descriptor.name, m.dataPoints[0]?.value);
        return values;
      };
      const up = await read();
      expect(up.get('client_credentials.shared_cache.connected')).toBe(1);
      expect(up.get('client_credentials.shared_cache.lock_wait_hits')).toBe(3);
      expect(up.get('client_credentials.shared_cache.timeouts')).toBe(2);
      stats.connected = false;
      expect((await read()).get('client_credentials.shared_cache.connected')).toBe(0);
    } finally {
      await provider.shutdown();
      metrics.disable();
    }
  });

  it('adds up two services of one process that report the same attributes, instead of keeping either', async () => {
    // Two apps (or an app and a test harness) in one process, each with a credential 'api' and a
    // shared cache: OpenTelemetry keeps one observation per attribute set and collection.
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      const first = new TokenMetrics();
      const second = new TokenMetrics();
      first.of('api').cacheHits = 4;
      second.of('api').cacheHits = 1;
      first.success('api', Date.now() + 3_600_000);
      second.success('api', Date.now() + 600_000);
      first.watchSharedCache(() => ({ ...newSharedCacheStats(), connected: true, reads: 3 }));
      second.watchSharedCache(() => ({ ...newSharedCacheStats(), connected: false, reads: 2 }));
      await reader.forceFlush();
      const values = new Map<string, unknown[]>();
      for (const rm of exporter.getMetrics())
        for (const sm of rm.scopeMetrics)
          for (const m of sm.metrics)
            values.set(
              m.descriptor.name,
              m.dataPoints.map((p) => p.value),
            );
      expect(values.get('client_credentials.cache.hits')).toEqual([5]);
      expect(values.get('client_credentials.shared_cache.reads')).toEqual([5]);
      // Gauges: the more urgent of the two.
      expect(values.get('client_credentials.shared_cache.connected')).toEqual([0]);
      const [expiresIn] = values.get('client_credentials.token.expires_in_seconds') as number[];
      expect(expiresIn).toBeLessThanOrEqual(600);
      expect(expiresIn).toBeGreaterThan(590);
      first.close();
      exporter.reset();
      await reader.forceFlush();
      const hits = exporter
        .getMetrics()
        .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
        .find((m) => m.descriptor.name === 'client_credentials.cache.hits');
      // The closed service's counts stay in the process's total (see the next test).
      expect(hits?.dataPoints.map((p) => p.value)).toEqual([5]);
      second.close();
    } finally {
      await provider.shutdown();
      metrics.disable();
    }
  });

  it("reports a closed service's gauges no more, and keeps its counts: a process's counters never go down", async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      const closed = new TokenMetrics();
      closed.of('closed').cacheHits = 4;
      closed.of('both').cacheHits = 2;
      closed.success('closed', Date.now() + 3_600_000);
      closed.watchSharedCache(() => ({ ...newSharedCacheStats(), connected: false, reads: 7 }));
      const open = new TokenMetrics();
      open.of('open').cacheHits = 1;
      open.of('both').cacheHits = 3;
      open.watchSharedCache(() => ({ ...newSharedCacheStats(), connected: true, reads: 1 }));
      const points = async () => {
        exporter.reset();
        await reader.forceFlush();
        const seen = new Map<string, unknown>();
        for (const rm of exporter.getMetrics())
          for (const sm of rm.scopeMetrics)
            for (const m of sm.metrics)
              for (const p of m.dataPoints)
                seen.set(`${m.descriptor.name}:${String(p.attributes.credential)}`, p.value);
        return seen;
      };
      const before = await points();
      expect(before.get('client_credentials.cache.hits:both')).toBe(5);
      expect(before.get('client_credentials.shared_cache.connected:undefined')).toBe(0);
      closed.close();
      closed.of('both').cacheHits = 100; // after close: not reported
      const after = await points();
      // Counts stay as they were: a counter that went down would read as a reset.
      expect(after.get('client_credentials.cache.hits:closed')).toBe(4);
      expect(after.get('client_credentials.cache.hits:both')).toBe(5);
      expect(after.get('client_credentials.cache.hits:open')).toBe(1);
      expect(after.get('client_credentials.shared_cache.reads:undefined')).toBe(8);
      // Gauges are of live services only.
      expect(after.get('client_credentials.shared_cache.connected:undefined')).toBe(1);
      open.close();
    } finally {
      await provider.shutdown();
      metrics.disable();
    }
  });
});
