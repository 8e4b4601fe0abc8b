import 'reflect-metadata'; // @peculiar/x509 (CSRs) resolves its services through tsyringe
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { createCa, issueCertificate, type IssuedCertificate } from '@app/dev-authority/pki';
import {
  ClientCredentialsError,
  ClientCredentialsModuleOptions,
  ConfigurationError,
  InvalidRequestError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '@app/client-credentials';
import { loadDaemonConfig } from '../../apps/daemon/src/config/load-config';
import { toClientCredentialsOptions } from '../../apps/daemon/src/config/credential-options';
import { Keyv } from 'keyv';
import { startTokenApp, type TokenApp } from '../support/token-app';
import {
  GOOD_ANSWER,
  startTokenStub,
  type StubAnswer,
  type TokenStub,
} from '../support/token-stub';
import { releaseAll } from '../support/fixtures';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = '66666666-7777-8888-9999-000000000000';
const dir = mkdtempSync(join(tmpdir(), 'cc-bad-input-'));

/** A valid module configuration with one secret credential; each row breaks one thing. */
function options(
  credential: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): ClientCredentialsModuleOptions {
  return {
    credentials: {
      c: {
        tenantId: TENANT,
        clientId: CLIENT,
        authorityHost: 'https://127.0.0.1:9',
        sources: [{ type: 'secret', secret: 'not-a-real-secret' }],
        ...credential,
      },
    },
    ...top,
  };
}
const source = (s: Record<string, unknown>) => options({ sources: [s] });

/** The problems `app.init()` fails with; it must fail with a ConfigurationError. */
async function initProblems(o: ClientCredentialsModuleOptions): Promise<readonly string[]> {
  const error = await startTokenApp(o).then(
    async (app) => {
      await app.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigurationError);
  expect((error as ConfigurationError).code).toBe('options_invalid');
  return (error as ConfigurationError).problems;
}

const HUGE = 'x'.repeat(1_000_000);
const NOT_HTTPS =
  'credentials.c.authorityHost: must be an https URL without query or credentials, e.g. https://login.microsoftonline.com';
const NOT_TENANT =
  'credentials.c.tenantId: is not a tenant ID — use the directory (tenant) ID GUID or a verified domain';
const POSITIVE = (path: string, max: number) => [
  [`${path} 0`, 0, `${path}: must be at least 1`],
  [`${path} -5`, -5, `${path}: must be at least 1`],
  [`${path} 1.5`, 1.5, `${path}: must be a whole number`],
  [`${path} '10'`, '10', `${path}: must be a number`],
  [`${path} huge`, 1e12, `${path}: must be at most ${max}`],
  [`${path} Infinity`, Infinity, `${path}: must be a number`],
];

/** Module options: [what, options, the exact problems]. */
const OPTION_ROWS: [string, ClientCredentialsModuleOptions, string[]][] = [
  [
    'no credentials',
    { credentials: {} },
    [
      'credentials: must name at least one credential, e.g. { default: { tenantId, clientId, sources } }',
    ],
  ],
  [
    'credentials not an object',
    { credentials: 'c' } as never,
    ['credentials: must be an object of named credentials'],
  ],
  [
    'unknown top-level option',
    options({}, { cache_: {} }),
    ["unknown option 'cache_' (did you mean 'cache'?) — check the spelling"],
  ],
  [
    'unknown default credential',
    options({}, { defaultCredential: 'd' }),
    ["defaultCredential: 'd' is not a configured credential — use one of: c"],
  ],
  [
    'tenantId a number',
    options({ tenantId: 42 }),
    ['credentials.c.tenantId: must be a string — set the directory (tenant) ID'],
  ],
  [
    'tenantId empty',
    options({ tenantId: '' }),
    ['credentials.c.tenantId: must not be empty — set the directory (tenant) ID'],
  ],
  [
    'tenantId blank',
    options({ tenantId: '   ' }),
    ['credentials.c.tenantId: must not be empty — set the directory (tenant) ID'],
  ],
  ['tenantId 1 MB', options({ tenantId: HUGE }), [NOT_TENANT]],
  ['tenantId a path', options({ tenantId: '../../admin' }), [NOT_TENANT]],
  ['tenantId with a URL query', options({ tenantId: `${TENANT}?x=1` }), [NOT_TENANT]],
  [
    'tenantId a meta-tenant',
    options({ tenantId: 'organizations' }),
    [
      "credentials.c.tenantId: 'organizations' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
    ],
  ],
  [
    'clientId an object',
    options({ clientId: {} }),
    ['credentials.c.clientId: must be a string — set the application (client) ID'],
  ],
  [
    'clientId missing',
    options({ clientId: undefined }),
    ['credentials.c.clientId: is required — set the application (client) ID'],
  ],
  [
    'clientId with spaces',
    options({ clientId: 'a b' }),
    ['credentials.c.clientId: must not contain spaces'],
  ],
  ['authorityHost http', options({ authorityHost: 'http://127.0.0.1:9' }), [NOT_HTTPS]],
  ['authorityHost not a URL', options({ authorityHost: 'login.microsoftonline.com' }), [NOT_HTTPS]],
  ['authorityHost file:', options({ authorityHost: 'file:///etc/passwd' }), [NOT_HTTPS]],
  ['authorityHost javascript:', options({ authorityHost: 'javascript:alert(1)' }), [NOT_HTTPS]],
  [
    'authorityHost with credentials',
    options({ authorityHost: 'https://u:p@127.0.0.1:9' }),
    [NOT_HTTPS],
  ],
  [
    'authorityHost with a query',
    options({ authorityHost: 'https://127.0.0.1:9/?a=b' }),
    [NOT_HTTPS],
  ],
  [
    'authorityHost a number',
    options({ authorityHost: 443 }),
    ['credentials.c.authorityHost: Invalid input: expected string, received number'],
  ],
  [
    'protocol unknown',
    options({ protocol: 'saml' }),
    ["credentials.c.protocol: must be 'entra' or 'oidc'"],
  ],
  [
    'sources empty',
    options({ sources: [] }),
    [
      "credentials.c.sources: must list at least one source, e.g. [{ type: 'secret', secret: '…' }]",
    ],
  ],
  [
    'sources a string',
    options({ sources: 'secret' }),
    ['credentials.c.sources: must be an array of credential sources'],
  ],
  [
    'source type unknown',
    source({ type: 'password', password: 'p' }),
    [
      "credentials.c.sources[0].type: has an unknown `type` — use 'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'",
    ],
  ],
  [
    'secret empty',
    source({ type: 'secret', secret: '' }),
    ['credentials.c.sources[0].secret: must not be empty — set the client secret value'],
  ],
  [
    'secret a number',
    source({ type: 'secret', secret: 1234 }),
    [
      'credentials.c.sources[0].secret: must be a string — set the client secret value (not its ID)',
    ],
  ],
  [
    'secret misspelt key',
    source({ type: 'secret', secert: 's' }),
    [
      'credentials.c.sources[0].secret: is required — set the client secret value (not its ID)',
      "credentials.c.sources[0]: unknown option 'secert' — check the spelling",
    ],
  ],
  [
    'certificate: neither path nor PEM',
    source({ type: 'certificate' }),
    [
      'credentials.c.sources[0]: needs `certificatePath` (a PEM file with certificate and key) or `certificate` + `privateKey`',
    ],
  ],
  [
    'certificatePath empty',
    source({ type: 'certificate', certificatePath: '' }),
    [
      'credentials.c.sources[0].certificatePath: must not be empty — set a value or leave the field out',
    ],
  ],
  [
    'certificate a path instead of PEM',
    source({ type: 'certificate', certificate: '/x.pem' }),
    [
      'credentials.c.sources[0].certificate: must be PEM text (-----BEGIN …) — pass the file contents, not a path',
    ],
  ],
  [
    'sendX5c a string',
    source({ type: 'certificate', certificatePath: '/x', sendX5c: 'yes' }),
    ['credentials.c.sources[0].sendX5c: must be true or false'],
  ],
  [
    'getAssertion not a function',
    source({ type: 'assertion', getAssertion: 'eyJ…' }),
    [
      'credentials.c.sources[0].getAssertion: must be a function returning the client assertion (a JWT)',
    ],
  ],
  [
    'tokenFilePath empty',
    source({ type: 'workload-identity', tokenFilePath: '' }),
    [
      'credentials.c.sources[0].tokenFilePath: must not be empty — set a value or leave the field out',
    ],
  ],
  [
    'managed identity named twice',
    source({ type: 'managed-identity', clientId: 'a', objectId: 'b' }),
    [
      'credentials.c.sources[0]: names a user-assigned identity by one of `clientId`, `resourceId` or `objectId`, not several',
    ],
  ],
  [
    'ca a path instead of PEM',
    options({ ca: '/etc/ssl/certs/ca.pem' }),
    ['credentials.c.ca: must be PEM text (-----BEGIN …) — pass the file contents, not a path'],
  ],
  ...POSITIVE('cache.maxEntries', 10_000_000).map(
    ([what, v, p]) =>
      [what, options({}, { cache: { maxEntries: v } }), [p]] as [
        string,
        ClientCredentialsModuleOptions,
        string[],
      ],
  ),
  ...POSITIVE('retry.maxAttempts', 10).map(
    ([what, v, p]) =>
      [what, options({}, { retry: { maxAttempts: v } }), [p]] as [
        string,
        ClientCredentialsModuleOptions,
        string[],
      ],
  ),
  ...POSITIVE('timeouts.requestMs', 300_000).map(
    ([what, v, p]) =>
      [what, options({}, { timeouts: { requestMs: v } }), [p]] as [
        string,
        ClientCredentialsModuleOptions,
        string[],
      ],
  ),
  [
    'cache.store not a cache',
    options({}, { cache: { store: {} } }),
    [
      'cache.store: must be a cache-manager 6+ Cache (createCache({ stores: [new Keyv(…)] })), not a Keyv or a store itself',
    ],
  ],
  [
    // A Keyv has get/set too: it passed, then every token call threw a TypeError.
    'cache.store a Keyv',
    options({}, { cache: { store: new Keyv() as never } }),
    [
      'cache.store: must be a cache-manager 6+ Cache (createCache({ stores: [new Keyv(…)] })), not a Keyv or a store itself',
    ],
  ],
  [
    'authorityHost with the tenant pasted in',
    options({ authorityHost: `https://login.microsoftonline.com/${TENANT}` }),
    [
      `credentials.c.authorityHost: is the host only, without '${TENANT}' in its path — put the tenant in tenantId, e.g. authorityHost: 'https://login.microsoftonline.com'`,
    ],
  ],
  [
    'authorityHost with the token path',
    options({
      authorityHost: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0',
    }),
    [
      "credentials.c.authorityHost: is the host only, without 'contoso.onmicrosoft.com' in its path — put the tenant in tenantId, e.g. authorityHost: 'https://login.microsoftonline.com'",
    ],
  ],
  [
    'retry.initialDelayMs above maxDelayMs',
    options({}, { retry: { initialDelayMs: 60_000, maxDelayMs: 1 } }),
    [
      'retry.initialDelayMs: leaves initialDelayMs (60000) above maxDelayMs (1): every delay would be 1 ms — raise maxDelayMs or lower initialDelayMs',
    ],
  ],
  [
    'refresh.refreshAt 2',
    options({}, { refresh: { refreshAt: 2 } }),
    ['refresh.refreshAt: must be between 0 and 1'],
  ],
  [
    'refresh.jitter NaN',
    options({}, { refresh: { jitter: NaN } }),
    ['refresh.jitter: must be a number'],
  ],
  [
    'refresh.expirySkewSeconds a day',
    options({}, { refresh: { expirySkewSeconds: 86_400 } }),
    ['refresh.expirySkewSeconds: must be between 0 and 3600'],
  ],
  [
    'shared cache: http URL, short key, repeated id',
    options(
      {},
      {
        cache: {
          shared: {
            redisUrl: 'http://127.0.0.1:6379',
            encryptionKeys: [
              { id: 'k', key: 'c2hvcnQ=' },
              { id: 'k', key: 'c2hvcnQ=' },
            ],
          },
        },
      },
    ),
    [
      'cache.shared.redisUrl: must be a redis:// or rediss:// URL, e.g. redis://localhost:6379',
      'cache.shared.encryptionKeys[0].key: must be 32 bytes as base64 (44 characters) or hex (64 characters) — generate one with `openssl rand -base64 32`',
      'cache.shared.encryptionKeys[1].key: must be 32 bytes as base64 (44 characters) or hex (64 characters) — generate one with `openssl rand -base64 32`',
      'cache.shared.encryptionKeys: must not repeat a key id',
    ],
  ],
];

describe('bad input: every option, certificate, call and token response (table)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('module options fail app.init() with one line per field', () => {
    it.each(OPTION_ROWS)('%s', async (_what, o, problems) => {
      expect(await initProblems(o)).toEqual(problems);
    });

    it('never echoes a secret value, even an oversized one, in a problem', async () => {
      const problems = await initProblems(
        options({ tenantId: '', sources: [{ type: 'secret', secret: HUGE, extra: 1 }] }),
      );
      expect(problems.join('\n')).not.toContain('xxxxxxxxxxxxxxxx');
    });
  });

  describe('certificate material fails app.init() naming the file or field', () => {
    let ca: IssuedCertificate;
    let client: IssuedCertificate;
    let other: IssuedCertificate;
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const where = 'credentials.c.sources[0].certificatePath';

    beforeAll(async () => {
      ca = await createCa('bad-input CA');
      [client, other] = await Promise.all([
        issueCertificate({ subject: 'client', issuer: ca, kind: 'client' }),
        issueCertificate({ subject: 'other', issuer: ca, kind: 'client' }),
      ]);
    });

    async function csrPem(): Promise<string> {
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=client',
        keys: client.keys,
        signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      });
      return csr.toString('pem');
    }
    /** The PEM with the second half of its base64 lines cut: DER that ends too early. */
    const truncated = (pem: string) => {
      const lines = pem.trim().split('\n');
      const body = lines.slice(1, -1);
      return [lines[0], ...body.slice(0, body.length / 2), lines[lines.length - 1]].join('\n');
    };
    const publicKeyPem = () =>
      createPublicKey(client.privateKeyPem).export({ type: 'spki', format: 'pem' }) as string;

    it.each<[string, () => Promise<string[] | [string, string]>]>([
      [
        'a directory',
        async () => [
          dir,
          `${where}: cannot read '${dir}' (EISDIR) — point it at a readable PEM file holding the certificate and its private key`,
        ],
      ],
      [
        'a FIFO (would block a reader forever)',
        async () => {
          const fifo = join(dir, 'fifo.pem');
          execFileSync('mkfifo', [fifo]);
          return [
            fifo,
            `${where}: cannot read '${fifo}' (EISDIR) — point it at a readable PEM file holding the certificate and its private key`,
          ];
        },
      ],
      // Unreadable (chmod 000) files cannot be tested here: the suites run as root, who reads them anyway.
      [
        'an empty file',
        async () => [
          file('empty.pem', ''),
          `${where}: no PEM certificate (-----BEGIN CERTIFICATE-----) found — provide the certificate in PEM form`,
        ],
      ],
      [
        'a CSR and its key',
        async () => [
          file('csr.pem', `${await csrPem()}\n${client.privateKeyPem}`),
          `${where}: no PEM certificate (-----BEGIN CERTIFICATE-----) found — provide the certificate in PEM form`,
        ],
      ],
      [
        'a public key and the private key',
        async () => [
          file('pub.pem', `${publicKeyPem()}\n${client.privateKeyPem}`),
          `${where}: no PEM certificate (-----BEGIN CERTIFICATE-----) found — provide the certificate in PEM form`,
        ],
      ],
      [
        "a certificate with another certificate's key",
        async () => [
          file('mismatch.pem', `${client.certificatePem}\n${other.privateKeyPem}`),
          `${where}: the private key does not belong to the certificate — pair the certificate with its own key`,
        ],
      ],
      [
        'a certificate with a public key as its key',
        async () => [
          file('cert-pub.pem', `${client.certificatePem}\n${publicKeyPem()}`),
          `${where}: no PEM private key found — add the private key (PKCS#8 or PKCS#1) to the file or set privateKey`,
        ],
      ],
      [
        'a corrupted certificate',
        async () => [
          file('corrupt.pem', `${truncated(client.certificatePem)}\n${client.privateKeyPem}`),
          `${where}: the certificate is not a valid X.509 certificate — check the PEM content`,
        ],
      ],
      [
        'an EC key',
        async () => {
          const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
            type: 'pkcs8',
            format: 'pem',
          }) as string;
          return [
            file('ec.pem', `${client.certificatePem}\n${ec}`),
            `${where}: the key is ec; Entra ID certificate credentials need an RSA key`,
          ];
        },
      ],
    ])('certificatePath: %s', async (_what, make) => {
      const [path, problem] = await make();
      expect(await initProblems(source({ type: 'certificate', certificatePath: path }))).toEqual([
        problem,
      ]);
    });

    it('inline PEM: a CSR as the certificate, a public key as the private key', async () => {
      expect(
        await initProblems(
          source({
            type: 'certificate',
            certificate: await csrPem(),
            privateKey: client.privateKeyPem,
          }),
        ),
      ).toEqual([
        'credentials.c.sources[0].certificate: no PEM certificate (-----BEGIN CERTIFICATE-----) found — provide the certificate in PEM form',
      ]);
      expect(
        await initProblems(
          source({
            type: 'certificate',
            certificate: client.certificatePem,
            privateKey: publicKeyPem(),
          }),
        ),
      ).toEqual([
        'credentials.c.sources[0].privateKey: no PEM private key found — add the private key (PKCS#8 or PKCS#1) to the file or set privateKey',
      ]);
    });
  });

  describe('the daemon configuration', () => {
    const valid = () => ({
      api: { url: 'https://127.0.0.1:9', scope: 'api://x/.default' },
      credentials: {
        c: { tenantId: TENANT, clientId: CLIENT, sources: [{ type: 'secret', secret: 's' }] },
      },
      workers: { w: { type: 'poller', intervalSeconds: 1, credential: 'c' } },
    });
    type Config = ReturnType<typeof valid> & Record<string, unknown>;
    const rows: [string, (c: Config) => void, string][] = [
      [
        'api.url http',
        (c) => (c.api.url = 'http://127.0.0.1:9'),
        'api.url: must be an https:// URL',
      ],
      ['api.url not a URL', (c) => (c.api.url = 'not a url'), 'api.url: must be an https:// URL'],
      [
        'api.scope without /.default',
        (c) => (c.api.scope = 'api://x'),
        "api.scope: must end in '/.default'",
      ],
      [
        'api.scope with spaces',
        (c) => (c.api.scope = 'api://x/.default api://y/.default'),
        "api.scope: must end in '/.default'",
      ],
      [
        'health.port 70000',
        (c) => (c.health = { port: 70_000 }),
        'health.port: must be a whole number from 0 to 65535',
      ],
      [
        'health.port a string',
        (c) => (c.health = { port: 'http' }),
        'health.port: must be a whole number from 0 to 65535',
      ],
      [
        'clientId with a space',
        (c) => (c.credentials.c.clientId = 'my app'),
        'credentials.c.clientId: must not contain spaces',
      ],
      [
        'tenantId common',
        (c) => (c.credentials.c.tenantId = 'common'),
        "credentials.c.tenantId: 'common' is a meta-tenant",
      ],
      [
        'secret empty',
        (c) => (c.credentials.c.sources[0].secret = ''),
        'credentials.c.sources[0].secret: must not be empty',
      ],
      [
        'source type unknown',
        (c) => (c.credentials.c.sources[0].type = 'password'),
        'credentials.c.sources[0].type: has an unknown `type`',
      ],
      [
        'worker interval -1',
        (c) => (c.workers.w.intervalSeconds = -1),
        'workers.w.intervalSeconds: must be a number above 0',
      ],
      [
        'worker credential unknown',
        (c) => (c.workers.w.credential = 'd'),
        "workers.w.credential: unknown credential 'd'",
      ],
      [
        'worker type unknown',
        (c) => (c.workers.w.type = 'cron'),
        'workers.w.type: unknown worker type',
      ],
      [
        'shutdownTimeoutSeconds a string',
        (c) => (c.shutdownTimeoutSeconds = 'ten'),
        'shutdownTimeoutSeconds: must be a number above 0',
      ],
    ];
    it.each(rows)('%s', (_what, change, problem) => {
      const config = valid() as Config;
      change(config);
      expect(() => loadDaemonConfig({ config, env: {} })).toThrow(problem);
    });

    it('caPath pointing at a directory is named when the options are built', () => {
      const config = valid() as Config;
      (config.credentials.c as Record<string, unknown>).caPath = dir;
      expect(() => toClientCredentialsOptions(loadDaemonConfig({ config, env: {} }), {})).toThrow(
        `credentials.c.caPath: cannot read '${dir}' (EISDIR): point it at a readable PEM file`,
      );
    });
  });

  describe('calls and token responses, against a stub token endpoint', () => {
    let stub: TokenStub;
    let app: TokenApp;
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => crashes.push(e);

    beforeAll(async () => {
      process.on('unhandledRejection', onCrash);
      process.on('uncaughtException', onCrash);
      stub = await startTokenStub();
      app = await startTokenApp({
        credentials: {
          c: {
            tenantId: TENANT,
            clientId: CLIENT,
            authorityHost: stub.url,
            ca: stub.caPem,
            sources: [{ type: 'secret', secret: 'not-a-real-secret' }],
          },
        },
        // One attempt, and a cool-down of a millisecond: each row's next call asks again.
        retry: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
      });
    });
    afterAll(async () => {
      await releaseAll(app, stub);
      process.off('unhandledRejection', onCrash);
      process.off('uncaughtException', onCrash);
      expect(crashes).toEqual([]);
    });

    it.each<
      [
        string,
        string | readonly string[],
        { tenantId?: string; credential?: string },
        string,
        string,
      ]
    >([
      ['empty scope list', [], {}, 'scope_invalid', "Scopes for credential 'c' are empty."],
      [
        'empty scope',
        '',
        {},
        'scope_invalid',
        "Scopes for credential 'c' contain an empty or non-string scope.",
      ],
      [
        'a scope with spaces',
        'api://x/.default api://y/.default',
        {},
        'scope_invalid',
        `Scopes for credential 'c' contain "api://x/.default api://y/.default", which has spaces or characters not allowed in a scope.`,
      ],
      [
        'a scope without /.default',
        'api://x',
        {},
        'scope_invalid',
        "Scopes for credential 'c' name 'api://x', which is not '<resource>/.default' (e.g. 'api://my-api/.default').",
      ],
      [
        'two resources',
        ['api://x/.default', 'api://y/.default'],
        {},
        'scope_invalid',
        "Scopes for credential 'c' name 2 scopes; client credentials with Entra ID take exactly one '<resource>/.default'.",
      ],
      [
        'a 2,000-character scope',
        `api://${'x'.repeat(2000)}/.default`,
        {},
        'scope_invalid',
        "Scopes for credential 'c' contain a scope longer than 1000 characters.",
      ],
      [
        'a scope with a line break',
        'api://x/.default\r\nX-Injected: 1',
        {},
        'scope_invalid',
        `Scopes for credential 'c' contain "api://x/.default\\r\\nX-Injected: 1", which has spaces or characters not allowed in a scope.`,
      ],
      [
        'tenant common',
        'api://x/.default',
        { tenantId: 'common' },
        'tenant_invalid',
        "Tenant 'common' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain (credential 'c').",
      ],
      [
        'tenant a path',
        'api://x/.default',
        { tenantId: '../evil' },
        'tenant_invalid',
        "Tenant '../evil' is not a tenant ID — use the directory (tenant) ID GUID or a verified domain (credential 'c').",
      ],
      [
        'unknown credential',
        'api://x/.default',
        { credential: 'd' },
        'credential_unknown',
        "Unknown credential 'd': configured are c.",
      ],
    ])(
      'call with %s: InvalidRequestError, no request',
      async (_what, scopes, opts, code, message) => {
        const before = stub.requests;
        const e = await app.tokens.getAccessToken(scopes, opts).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(InvalidRequestError);
        expect(e).toMatchObject({
          code,
          message: expect.stringMatching(`^${escape(message)} Hint: `),
        });
        expect(stub.requests).toBe(before);
      },
    );

    const json = (body: unknown, status = 200): StubAnswer => ({
      status,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const token = { token_type: 'Bearer', access_token: 'abc.def.ghi', expires_in: 3600 };
    const twoMb = Buffer.alloc(2 * 1024 * 1024, 'a');
    const failed = "Token request for credential 'c' (tenant " + TENANT + ') failed: ';

    it.each<[string, StubAnswer, string]>([
      [
        'missing expires_in',
        json({ ...token, expires_in: undefined }),
        'the token response has an invalid expires_in (null): expected 1 to 604800 seconds',
      ],
      [
        'negative expires_in',
        json({ ...token, expires_in: -60 }),
        'the token response has an invalid expires_in (-60): expected 1 to 604800 seconds',
      ],
      [
        'zero expires_in',
        json({ ...token, expires_in: 0 }),
        'the token response has an invalid expires_in (0): expected 1 to 604800 seconds',
      ],
      [
        'huge expires_in',
        json({ ...token, expires_in: 1e12 }),
        'the token response has an invalid expires_in (1000000000000): expected 1 to 604800 seconds',
      ],
      [
        'non-numeric expires_in',
        json({ ...token, expires_in: '3600s' }),
        'the token response has an invalid expires_in ("3600s"): expected 1 to 604800 seconds',
      ],
      [
        'empty access_token',
        json({ ...token, access_token: '' }),
        'the token response has no access_token',
      ],
      [
        'numeric access_token',
        json({ ...token, access_token: 12345 }),
        'the token response has no access_token',
      ],
      [
        'access_token with a line break',
        json({ ...token, access_token: 'abc\r\nX-Injected: 1' }),
        'the token response has an access_token with characters a bearer token cannot have',
      ],
      [
        'wrong token_type',
        json({ ...token, token_type: 'pop' }),
        'the token response has token_type "pop" instead of Bearer',
      ],
      [
        'missing token_type',
        json({ ...token, token_type: undefined }),
        'the token response has token_type "undefined" instead of Bearer',
      ],
      ['a 200 with {}', json({}), 'the token response has no access_token'],
      [
        'a 200 with []',
        json([]),
        'the authority answered HTTP 200 with a body that is not a JSON object (application/json, 2 bytes)',
      ],
      [
        'non-JSON (HTML)',
        { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>Sign in</html>' },
        'the authority answered HTTP 200 with a body that is not a JSON object (text/html, 20 bytes)',
      ],
      [
        'a 2 MB body',
        { status: 200, headers: { 'content-type': 'application/json' }, body: twoMb },
        "the authority's answer is larger than 1048576 bytes",
      ],
      [
        'a 2 MB body, chunked',
        {
          status: 200,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          body: twoMb,
        },
        "the authority's answer is larger than 1048576 bytes",
      ],
    ])('token answer with %s: invalid_response, nothing cached', async (what, answer, problem) => {
      const scope = `api://${encodeURIComponent(what).replace(/%/g, '_')}/.default`;
      const before = stub.requests;
      stub.answer = answer;
      const e = await app.tokens.getAccessToken(scope).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TokenEndpointError);
      expect((e as ClientCredentialsError).code).toBe('invalid_response');
      expect((e as Error).message).toBe(
        `${failed}${problem}. Hint: ${(e as ClientCredentialsError).hint}`,
      );
      expect(stub.requests).toBe(before + 1);

      // Nothing invalid was cached: the next call asks again and gets the good answer.
      stub.answer = GOOD_ANSWER;
      await new Promise((r) => setTimeout(r, 5));
      const next = await app.tokens.getAccessToken(scope);
      expect(next.source).toBe('network');
      expect(stub.requests).toBe(before + 2);
    });
  });

  describe('redirects of the token endpoint and of discovery: refused, never followed', () => {
    let stub: TokenStub;
    let app: TokenApp;
    let elsewhere: Server;
    let followed = 0;
    let location = '';

    beforeAll(async () => {
      // Where the redirects point: it must never get a request (the secret would go with it).
      elsewhere = createServer((_req, res) => {
        followed++;
        res.end('{}');
      });
      await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
      location = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/moved/token`;
      stub = await startTokenStub();
      const common = { clientId: CLIENT, authorityHost: stub.url, ca: stub.caPem };
      const sources = [{ type: 'secret' as const, secret: 'not-a-real-secret' }];
      app = await startTokenApp({
        credentials: {
          entra: { ...common, tenantId: TENANT, sources },
          oidc: { ...common, tenantId: 'realm-redirect', protocol: 'oidc', sources },
        },
        // Retries allowed: a redirect must not use them.
        retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 1 },
      });
    });
    afterAll(async () => {
      await releaseAll(app, stub);
      await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    });

    const redirect = (status: number, body: string, type?: string): StubAnswer => ({
      status,
      headers: {
        location: `${location}?client_secret=leak&code=x`,
        ...(type === undefined ? {} : { 'content-type': type }),
      },
      body,
    });

    it.each<[string, () => StubAnswer]>([
      ['307, no body', () => redirect(307, '')],
      ['302 with {}', () => redirect(302, '{}', 'application/json')],
      ['308 with an OAuth error', () => redirect(308, '{"error":"moved"}', 'application/json')],
      ['301 with HTML', () => redirect(301, '<a href="/moved">Moved</a>', 'text/html')],
    ])(
      'token endpoint answering %s: authority_redirected naming the Location, one request',
      async (what, answerOf) => {
        const scope = `api://${encodeURIComponent(what).replace(/%/g, '_')}/.default`;
        const before = stub.requests;
        const answer = answerOf();
        stub.answer = answer;
        const e = await app.tokens
          .getAccessToken(scope, { credential: 'entra' })
          .catch((x: unknown) => x);
        stub.answer = GOOD_ANSWER;
        // A refusal, not an outage: code that retries TokenEndpointErrors does not loop on it.
        expect(e).toBeInstanceOf(TokenRequestRejectedError);
        expect(e).toMatchObject({
          code: 'authority_redirected',
          transient: false,
          status: answer.status,
        });
        const message = String((e as Error).message);
        expect(message).toContain(`a redirect to ${location}, which is never followed`);
        expect(message).not.toContain('leak');
        expect((e as ClientCredentialsError).hint).toContain('authorityHost');
        expect(stub.requests).toBe(before + 1);
        expect(followed).toBe(0);
      },
    );

    it('a discovery document that redirects: authority_redirected, not retried, not followed', async () => {
      const before = { discovery: stub.discoveryRequests, tokens: stub.requests };
      stub.discoveryAnswers.push(redirect(302, ''));
      const e = await app.tokens
        .getAccessToken('scope-a', { credential: 'oidc' })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TokenRequestRejectedError);
      expect(e).toMatchObject({ code: 'authority_redirected', transient: false, status: 302 });
      expect(String((e as Error).message)).toContain(`a redirect to ${location}`);
      expect(stub.discoveryRequests - before.discovery).toBe(1);
      expect(stub.requests).toBe(before.tokens);
      expect(followed).toBe(0);
    });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
