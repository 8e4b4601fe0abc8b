import { inspect } from 'node:util';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { ClientCredentialsModuleOptions } from '../client-credentials.options';
import { resolveOptions } from './resolve-options';

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

  it('reads an option given as undefined (an unset config key) as its default', () => {
    const r = resolveOptions({
      ...good(),
      cache: { maxEntries: undefined, keyPrefix: undefined },
      refresh: { refreshAt: undefined, jitter: undefined, expirySkewSeconds: undefined },
      retry: {
        maxAttempts: undefined,
        initialDelayMs: undefined,
        maxDelayMs: undefined,
        maxRetryAfterMs: undefined,
        sourceCoolDownMs: undefined,
      },
      timeouts: { requestMs: undefined, acquireMs: undefined, managedIdentityMs: undefined },
    });
    expect(r.cache).toMatchObject({ maxEntries: 10_000, keyPrefix: 'client-credentials:' });
    expect(r.refresh).toEqual({ refreshAt: 0.5, jitter: 0.05, expirySkewSeconds: 120 });
    expect(r.retry).toEqual({
      maxAttempts: 3,
      initialDelayMs: 200,
      maxDelayMs: 30_000,
      maxRetryAfterMs: 60_000,
      sourceCoolDownMs: 60_000,
    });
    expect(r.timeouts).toEqual({ requestMs: 10_000, acquireMs: 30_000, managedIdentityMs: 5_000 });
  });

  it('lets replicas wait for another replica’s token as long as that one may take', () => {
    const r = resolveOptions({
      ...good(),
      timeouts: { acquireMs: 5000, requestMs: 1000 },
      cache: {
        shared: {
          redisUrl: 'redis://127.0.0.1:6379',
          encryptionKeys: [{ id: 'k1', key: 'a'.repeat(64) }],
        },
      },
    });
    expect(r.cache.shared!.lockWaitMs).toBe(6000);
  });

  it('takes a proxy per credential, and never shows its URL (it may hold a password)', () => {
    const o = good();
    o.credentials.api.proxy = { url: 'http://user:pw@proxy.corp:3128', noProxy: ['.corp'] };
    const proxy = resolveOptions(o).credentials.get('api')!.proxy;
    expect(proxy).toMatchObject({ kind: 'explicit', noProxy: ['.corp'] });
    expect(proxy.kind === 'explicit' && proxy.url).toBe('http://user:pw@proxy.corp:3128');
    // Serialised and inspected without its user and password.
    expect(JSON.parse(JSON.stringify(proxy))).toEqual({
      kind: 'explicit',
      url: 'http://[redacted]@proxy.corp:3128',
      noProxy: ['.corp'],
    });
    expect(inspect(proxy, { depth: 5 })).not.toMatch(/user|pw/);
    o.credentials.api.proxy = false;
    expect(resolveOptions(o).credentials.get('api')!.proxy).toEqual({ kind: 'direct' });
    delete o.credentials.api.proxy;
    expect(resolveOptions(o).credentials.get('api')!.proxy).toEqual({ kind: 'environment' });
    o.credentials.api.proxy = 'socks5://user:s3cret@proxy:1080';
    expect(problemsOf(o)).toEqual([
      'credentials.api.proxy: must be an http:// or https:// proxy URL with a host, e.g. http://proxy.corp:3128',
    ]);
    o.credentials.api.proxy = { url: 'ftp://user:s3cret@proxy', noProxy: ['a b'] };
    const problems = problemsOf(o).join('\n');
    expect(problems).toContain('credentials.api.proxy');
    expect(problems).not.toContain('s3cret');
  });

  it('sends the secret it validated: without the newline a file left behind', () => {
    const o = good();
    o.credentials.api.sources = [{ type: 'secret', secret: '  p@ss\n' }];
    expect(resolveOptions(o).credentials.get('api')!.sources[0]).toEqual({
      type: 'secret',
      secret: 'p@ss',
    });
  });

  it('keeps the caller’s own assertion callback', () => {
    const getAssertion = () => 'jwt';
    const o = good();
    o.credentials.api.sources = [{ type: 'assertion', getAssertion }];
    const source = resolveOptions(o).credentials.get('api')!.sources[0];
    expect(source).toMatchObject({ type: 'assertion' });
    expect((source as { getAssertion: unknown }).getAssertion).toBe(getAssertion);
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
        "credentials.graph.sources[1].type: has an unknown `type` — use 'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'",
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
    [
      { ...good(), refresh: { refreshAt: 0 } },
      [
        'refresh.refreshAt: leaves refreshAt − jitter = -0.05: a token must be used for at least 0.1 of its lifetime before it is refreshed — raise refreshAt (default 0.5) or lower jitter',
      ],
    ],
    [
      { ...good(), refresh: { refreshAt: 0.3, jitter: 0.25 } },
      [
        'refresh.refreshAt: leaves refreshAt − jitter = 0.05: a token must be used for at least 0.1 of its lifetime before it is refreshed — raise refreshAt (default 0.5) or lower jitter',
      ],
    ],
    [
      { ...good(), retry: { maxRetryAfterMs: 86_400_000 } },
      ['retry.maxRetryAfterMs: must be between 0 and 60000 — a longer wait locks callers out'],
    ],
    [
      {
        credentials: {
          api: {
            tenantId: TENANT,
            clientId: 'client',
            sources: [{ type: 'secret', secret: 's' }, { type: 'managed-identity' }],
          },
        },
      },
      [
        "credentials.api.sources: mixes 'managed-identity' (the managed identity's own tokens) with app credentials: its tokens would be of two different identities under one name — give the managed identity a credential of its own, or use 'managed-identity-assertion' to sign in as the app",
      ],
    ],
    [
      {
        credentials: {
          mi: {
            sources: [{ type: 'managed-identity' }, { type: 'managed-identity', clientId: 'x' }],
          },
        },
      },
      [
        'credentials.mi.sources: names several different managed identities: their tokens would be of different identities under one name — give each a credential of its own',
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
