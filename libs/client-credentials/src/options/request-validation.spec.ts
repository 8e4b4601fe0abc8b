import { InvalidRequestError } from '../errors/client-credentials.errors';
import { validateTenant } from './request-validation';
import { TokenMetrics } from '../observability/token-metrics';

describe('per-call tenants from callers', () => {
  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses %s before any request, for every protocol',
    (tenant) => {
      for (const protocol of ['entra', 'oidc'] as const) {
        expect(() => validateTenant(tenant, protocol, 'api')).toThrow(InvalidRequestError);
      }
    },
  );

  it('keeps stats of any tenant name as a plain key: Object.prototype stays untouched', () => {
    const metrics = new TokenMetrics();
    metrics.failure('api', 'authority_error', undefined, 'failed', '__proto__');
    metrics.success('api', Date.now() + 60_000, 'constructor');
    expect(({} as Record<string, unknown>).lastError).toBeUndefined();
    expect(({} as Record<string, unknown>).lastSuccessAt).toBeUndefined();
    expect(Object.keys(metrics.of('api').tenants ?? {})).toEqual(['__proto__', 'constructor']);
  });
});
