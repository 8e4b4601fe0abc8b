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
});
