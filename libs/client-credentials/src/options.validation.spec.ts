import { ConfigurationError } from './errors/client-credentials.errors';
import { ClientCredentialsModuleOptions } from './client-credentials.options';
import { resolveOptions } from './options.validation';

const TENANT = '11111111-2222-3333-4444-555555555555';
const good = (): ClientCredentialsModuleOptions => ({
  credentials: {
    api: { tenantId: TENANT, clientId: 'client', sources: [{ type: 'secret', secret: 'p@ss' }] },
  },
});

function problemsOf(options: unknown): readonly string[] {
  try {
    resolveOptions(options as ClientCredentialsModuleOptions);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    expect((e as ConfigurationError).code).toBe('options_invalid');
    return (e as ConfigurationError).problems;
  }
  throw new Error('expected a ConfigurationError');
}

describe('resolveOptions', () => {
  it('applies defaults and picks the only credential as default', () => {
    const r = resolveOptions(good());
    expect(r.defaultCredential).toBe('api');
    expect(r.credentials.get('api')).toMatchObject({
      authorityHost: 'https://login.microsoftonline.com',
      protocol: 'entra',
    });
    expect(r.timeouts).toEqual({ requestMs: 10_000, acquireMs: 30_000, managedIdentityMs: 5_000 });
    expect(r.cache.maxEntries).toBe(10_000);
  });

  it('leaves the default unset when several credentials exist and none is named', () => {
    const o = good();
    o.credentials.other = { ...o.credentials.api };
    expect(resolveOptions(o).defaultCredential).toBeUndefined();
  });

  it.each([
    [{}, ['credentials: must be an object of named credentials']],
    [
      { credentials: {} },
      [
        'credentials: must name at least one credential, e.g. { default: { tenantId, clientId, sources } }',
      ],
    ],
    [
      { credentials: { a: { clientId: 'c', sources: [{ type: 'secret', secret: 's' }] } } },
      ['credentials.a.tenantId: is required — set the directory (tenant) ID'],
    ],
    [
      {
        credentials: {
          a: { tenantId: 'common', clientId: 'c', sources: [{ type: 'secret', secret: 's' }] },
        },
      },
      [
        "credentials.a.tenantId: 'common' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
      ],
    ],
    [
      {
        credentials: {
          a: {
            tenantId: 'organizations',
            clientId: 'c',
            sources: [{ type: 'secret', secret: 's' }],
          },
        },
      },
      [
        "credentials.a.tenantId: 'organizations' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
      ],
    ],
    [
      { credentials: { a: { tenantId: TENANT, clientId: 'c', sources: [] } } },
      [
        "credentials.a.sources: must list at least one source, e.g. [{ type: 'secret', secret: '…' }]",
      ],
    ],
    [
      {
        credentials: {
          a: {
            tenantId: TENANT,
            clientId: 'c',
            authorityHost: 'http://login.example.com',
            sources: [{ type: 'secret', secret: 's' }],
          },
        },
      },
      [
        'credentials.a.authorityHost: must be an https URL without query or credentials, e.g. https://login.microsoftonline.com',
      ],
    ],
    [
      {
        credentials: {
          a: {
            tenantId: TENANT,
            clientId: 'c',
            authorityHost: 'not a url',
            sources: [{ type: 'secret', secret: 's' }],
          },
        },
      },
      [
        'credentials.a.authorityHost: must be an https URL without query or credentials, e.g. https://login.microsoftonline.com',
      ],
    ],
    [
      {
        credentials: {
          graph: {
            tenantId: TENANT,
            clientId: 'c',
            sources: [
              { type: 'secret', secret: '' },
              { type: 'magic' },
              { type: 'certificate' },
              { type: 'certificate', certificate: '/etc/cert.pem' },
              { type: 'assertion', getAssertion: 'jwt' },
              { type: 'secret', secret: 's', scret: 'typo' },
            ],
          },
        },
      },
      [
        'credentials.graph.sources[0].secret: must not be empty — set the client secret value',
        "credentials.graph.sources[1].type: has an unknown `type` — use 'secret', 'certificate', 'assertion', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'",
        'credentials.graph.sources[2]: needs `certificatePath` (a PEM file with certificate and key) or `certificate` + `privateKey`',
        'credentials.graph.sources[3].certificate: must be PEM text (-----BEGIN …) — pass the file contents, not a path',
        'credentials.graph.sources[4].getAssertion: must be a function returning the client assertion (a JWT)',
        "credentials.graph.sources[5]: unknown option 'scret' — check the spelling",
      ],
    ],
    [
      { ...good(), defaultCredential: 'graph' },
      ["defaultCredential: 'graph' is not a configured credential — use one of: api"],
    ],
    [
      {
        ...good(),
        retry: { maxAttempts: 0 },
        timeouts: { requestMs: 1.5 },
        refresh: { refreshAt: 2 },
      },
      [
        'refresh.refreshAt: must be between 0 and 1',
        'retry.maxAttempts: must be at least 1',
        'timeouts.requestMs: must be a whole number',
      ],
    ],
  ])('rejects %j naming the field and the fix', (options, expected) => {
    expect(problemsOf(options)).toEqual(expected);
  });

  it('never echoes a secret, even a misplaced one', () => {
    const secret = 'Zq8~very.secret.value';
    let message = '';
    try {
      resolveOptions({
        credentials: {
          a: {
            tenantId: 'common',
            clientId: secret,
            sources: [{ type: 'secret', secret, extra: secret }],
          },
        },
      } as never);
    } catch (e) {
      message = (e as Error).message + JSON.stringify(e);
    }
    expect(message).toContain(
      "credentials.a.sources[0]: unknown option 'extra' — check the spelling",
    );
    expect(message).not.toContain(secret);
  });
});
