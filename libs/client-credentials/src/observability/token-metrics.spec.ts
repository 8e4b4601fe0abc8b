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
});
