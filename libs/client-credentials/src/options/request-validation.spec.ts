import { InvalidRequestError } from '../errors/client-credentials.errors';
import { validateTenant } from './request-validation';

describe('per-call tenants from callers', () => {
  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses %s before any request, for every protocol',
    (tenant) => {
      for (const protocol of ['entra', 'oidc'] as const) {
        expect(() => validateTenant(tenant, protocol, 'api')).toThrow(InvalidRequestError);
      }
    },
  );
});
