import { snapshotOf } from './credential-stats';
import { TokenMetrics } from './token-metrics';

describe('snapshotOf', () => {
  it('copies every counter, date and tenant: later events do not change a snapshot', () => {
    const metrics = new TokenMetrics();
    const live = metrics.of('api');
    metrics.request('api', 'secret#0', 'ok', 5);
    metrics.success('api', Date.now() + 60_000);
    metrics.failure('api', 'request_rejected', 700016, 'no', 'customer');
    live.skippedSources = { 'secret#0': { reason: 'expired', until: new Date(1_000) } };

    const before = snapshotOf(live);
    const frozen = JSON.stringify(before);
    live.cacheHits += 5;
    metrics.request('api', 'secret#0', 'ok', 5);
    metrics.failure('api', 'timeout', undefined, 'slow');
    metrics.success('api', Date.now() + 120_000, 'customer');
    live.lastSuccessAt!.setTime(0);
    live.skippedSources['secret#0'].until.setTime(2_000);
    const after = snapshotOf(live);

    expect(JSON.stringify(before)).toBe(frozen);
    expect(before).toMatchObject({ credential: 'api', tokenRequests: 1, cacheHits: 0 });
    expect(before.failures).toEqual({ request_rejected: 1 });
    expect(before.tenants?.customer.lastSuccessAt).toBeUndefined();
    expect(after).toMatchObject({ tokenRequests: 2, cacheHits: 5 });
    expect(after.failures).toEqual({ request_rejected: 1, timeout: 1 });
    expect(after.tenants?.customer.lastSuccessAt).toBeInstanceOf(Date);
    // Nothing of the live record is reachable from a snapshot.
    after.tenants!.customer.lastError!.at.setTime(0);
    after.failures.timeout = 99;
    expect(live.tenants!.customer.lastError!.at.getTime()).toBeGreaterThan(0);
    expect(live.failures.timeout).toBe(1);
  });
});
