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

describe('per-call OIDC realms', () => {
  it.each(['a/../b', '..', '../x', './x', 'a/.', 'a//b', '/a', 'a/'])(
    'refuses %s: a tenant never moves the token path outside its realm',
    (tenant) => {
      expect(() => validateTenant(tenant, 'oidc', 'api')).toThrow(InvalidRequestError);
    },
  );

  it.each(['tenant', 'realms/t1', 'a.b/c', '..a', 'a..', 'x~y_z-1'])('takes %s', (tenant) => {
    expect(() => validateTenant(tenant, 'oidc', 'api')).not.toThrow();
  });
});
