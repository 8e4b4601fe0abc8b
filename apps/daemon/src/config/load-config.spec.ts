import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDaemonConfig } from './load-config';
import { overrideValue } from './yaml-source';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';

/** A configuration object tests change freely. */
interface Fixture {
  api?: Record<string, unknown>;
  downstreamApis?: Record<string, Record<string, unknown>>;
  credentials: { orders: Record<string, unknown> };
  workers: Record<string, Record<string, unknown>>;
}

function valid(): Fixture {
  return {
    api: { url: 'https://api.contoso.com/', scope: 'api://orders/.default' },
    credentials: {
      orders: {
        tenantId: TENANT,
        clientId: CLIENT,
        sources: [{ type: 'secret', secret: '${ORDERS_SECRET}' }],
      },
    },
    workers: {
      poller: { type: 'poller', intervalSeconds: 30, credential: 'orders' },
      sweep: {
        type: 'tenant-sweep',
        cron: '0 */5 * * * *',
        credential: 'orders',
        tenants: [TENANT],
      },
    },
  };
}

const env = { ORDERS_SECRET: 's3cr3t-value' };

/** The message loading `config` fails with. */
function problem(config: unknown, e: Record<string, string> = env): string {
  try {
    loadDaemonConfig({ config, env: e });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

const header = 'Invalid daemon configuration (configuration object):\n';

describe('loadDaemonConfig', () => {
  it('takes a credential of managed identities without tenant or client id, but no other', () => {
    const mi = valid();
    mi.credentials.orders = { sources: [{ type: 'managed-identity', clientId: CLIENT }] };
    expect(
      loadDaemonConfig({ config: mi, env }).clientCredentials.credentials.orders.sources,
    ).toEqual([{ type: 'managed-identity', clientId: CLIENT }]);
    const secret = valid();
    delete secret.credentials.orders.clientId;
    expect(problem(secret)).toContain('credentials.orders.clientId:');
  });

  it('accepts a valid configuration, fills defaults and resolves ${VAR}', () => {
    const config = loadDaemonConfig({ config: valid(), env });
    expect(config.health).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.shutdownTimeoutSeconds).toBe(10);
    expect(config.api?.url).toBe('https://api.contoso.com');
    // The one-API shorthand is the downstream API `api`, which every worker calls.
    expect(config.downstreamApis).toEqual({
      api: { baseUrl: 'https://api.contoso.com', scopes: 'api://orders/.default' },
    });
    expect(config.workers.poller.api).toBe('api');
    expect(config.clientCredentials.credentials.orders.sources[0]).toEqual({
      type: 'secret',
      secret: 's3cr3t-value',
    });
    expect(config.workers.poller).toMatchObject({ enabled: true, runAtStart: true });
  });

  it('applies DAEMON__ environment overrides', () => {
    const config = loadDaemonConfig({
      config: valid(),
      env: { ...env, DAEMON__health__port: '9090', DAEMON__workers__sweep__enabled: 'false' },
    });
    expect(config.health.port).toBe(9090);
    expect(config.workers.sweep.enabled).toBe(false);
  });

  it("overrides a dashed name with '_' for '-' (a shell variable's name cannot hold '-')", () => {
    const config = valid();
    config.workers['tenant-sweep'] = config.workers.sweep;
    delete config.workers.sweep;
    const loaded = loadDaemonConfig({
      config,
      env: { ...env, DAEMON__workers__tenant_sweep__enabled: 'false' },
    });
    expect(loaded.workers['tenant-sweep'].enabled).toBe(false);
    expect(Object.keys(loaded.workers)).toEqual(['poller', 'tenant-sweep']);
    // Two keys written so: which one is meant cannot be told.
    config.workers['sweep-eu_1'] = { ...config.workers['tenant-sweep'] };
    config.workers['sweep_eu-1'] = { ...config.workers['tenant-sweep'] };
    expect(problem(config, { ...env, DAEMON__workers__sweep_eu_1__enabled: 'false' })).toBe(
      `${header}  - DAEMON__workers__sweep_eu_1__enabled: 'sweep_eu_1' stands for several keys that differ only in '-' and '_': set the override with the key as written, e.g. env 'DAEMON__workers__my-worker__enabled=false' node …`,
    );
  });

  it('names a missing section', () => {
    const { credentials: _credentials, ...config } = valid();
    expect(problem(config)).toContain(
      `${header}  - credentials: required: set credentials: one or more named app registrations`,
    );
  });

  it('names a mistyped key and the keys allowed', () => {
    const config = valid();
    config.workers.poller = { type: 'poller', intervalSecond: 30, credential: 'orders' };
    expect(problem(config)).toBe(
      `${header}  - workers.poller: unknown key 'intervalSecond': expected one of type, enabled, credential, api, cron, intervalSeconds, runAtStart\n` +
        `  - workers.poller: set exactly one of 'cron' (e.g. '0 */5 * * * *') or 'intervalSeconds' (e.g. 30)`,
    );
  });

  it('names an unset environment variable once, without echoing other values', () => {
    expect(problem(valid(), {})).toBe(
      `${header}  - credentials.orders.sources[0].secret: uses \${ORDERS_SECRET} but the environment variable ORDERS_SECRET is not set: export it (or write the value)`,
    );
  });

  it('rejects a worker naming an unknown credential', () => {
    const config = valid();
    config.workers.poller.credential = 'order';
    expect(problem(config)).toBe(
      `${header}  - workers.poller.credential: unknown credential 'order': use one of orders`,
    );
  });

  it('rejects a schedule with both or neither of cron and intervalSeconds', () => {
    const config = valid();
    config.workers.poller.cron = '*/5 * * * * *';
    delete config.workers.sweep.cron;
    expect(problem(config)).toBe(
      `${header}  - workers.poller: set exactly one of 'cron' (e.g. '0 */5 * * * *') or 'intervalSeconds' (e.g. 30)\n` +
        `  - workers.sweep: set exactly one of 'cron' (e.g. '0 */5 * * * *') or 'intervalSeconds' (e.g. 30)`,
    );
  });

  it('rejects a cron expression that does not parse', () => {
    const config = valid();
    config.workers.sweep.cron = 'every five minutes';
    expect(problem(config)).toBe(
      `${header}  - workers.sweep.cron: 'every five minutes' is not a cron expression (Unknown alias: eve): use 5 or 6 fields, e.g. '*/30 * * * * *' (every 30 s)`,
    );
  });

  it('reads credentials with the library: its problems join the list, in its words', () => {
    const config = valid();
    Object.assign(config.credentials.orders, {
      tenantId: 'common',
      authorityHost: 'http://login.microsoftonline.com',
    });
    expect(problem(config)).toBe(
      `${header}  - credentials.orders.authorityHost: must be an https URL without query or credentials, e.g. https://login.microsoftonline.com\n` +
        `  - credentials.orders.tenantId: 'common' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain`,
    );
  });

  describe('AZURE_* variables', () => {
    const webhook = {
      AZURE_CLIENT_ID: '33333333-3333-3333-3333-333333333333',
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
    };

    it.each([
      [
        'only AZURE_CLIENT_ID (a user-assigned identity for other Azure SDK clients)',
        { AZURE_CLIENT_ID: CLIENT },
      ],
      ["the AKS workload identity webhook's", webhook],
    ])('set for other SDKs (%s) change nothing: no error, no second credential', (_what, vars) => {
      const config = loadDaemonConfig({ config: valid(), env: { ...env, ...vars } });
      expect(Object.keys(config.clientCredentials.credentials)).toEqual(['orders']);
    });

    it("are a credential where the configuration asks for it: 'environment'", () => {
      const config = valid() as unknown as { credentials: Record<string, unknown> } & Fixture;
      config.credentials.workload = 'environment';
      config.workers.poller.credential = 'workload';
      const loaded = loadDaemonConfig({ config, env: { ...env, ...webhook } });
      expect(loaded.clientCredentials.credentials.workload).toEqual({
        tenantId: TENANT,
        clientId: webhook.AZURE_CLIENT_ID,
        authorityHost: webhook.AZURE_AUTHORITY_HOST,
        sources: [{ type: 'workload-identity', tokenFilePath: webhook.AZURE_FEDERATED_TOKEN_FILE }],
      });
      expect(problem(config, { ...env, AZURE_CLIENT_ID: CLIENT })).toBe(
        `${header}  - AZURE_TENANT_ID: is required — set the directory (tenant) ID\n` +
          '  - AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE: set at least one, or unset the other AZURE_* variables',
      );
    });
  });

  it('names the TOKEN_CACHE_* variable of a shared-cache problem, never its value', () => {
    const redis = 'redis://:P4ssw0rdXYZ@127.0.0.1:1';
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(
      problem(valid(), { ...env, TOKEN_CACHE_REDIS_URL: redis, TOKEN_CACHE_KEYS: 'k1:SHORTKEY' }),
    ).toBe(
      `${header}  - TOKEN_CACHE_KEYS, key 1: must be 32 bytes as base64 (44 characters) or hex (64 characters) — generate one with \`openssl rand -base64 32\``,
    );
    expect(problem(valid(), { ...env, TOKEN_CACHE_REDIS_URL: redis })).toBe(
      `${header}  - TOKEN_CACHE_KEYS: must hold at least one { id, key }`,
    );
    const message = problem(valid(), {
      ...env,
      TOKEN_CACHE_REDIS_URL: 'rediss//:P4ssw0rdXYZ@127.0.0.1:1',
      TOKEN_CACHE_KEYS: `k1:${key}`,
    });
    expect(message).toBe(
      `${header}  - TOKEN_CACHE_REDIS_URL: must be a redis:// or rediss:// URL, e.g. redis://localhost:6379`,
    );
    expect(message).not.toContain('P4ssw0rd');
  });

  it('rejects a scope without /.default and an unknown source type', () => {
    const config = valid();
    config.api!.scope = 'api://orders/Data.Read';
    config.credentials.orders.sources = [{ type: 'password', password: 'x' }];
    expect(problem(config)).toBe(
      `${header}  - api.scope: must end in '/.default' (client credentials ask for all of an API's app roles): use e.g. 'api://<app-id>/.default'\n` +
        "  - credentials.orders.sources[0].type: has an unknown `type` — use 'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'",
    );
  });

  it('rejects a bad port from an environment override', () => {
    expect(problem(valid(), { ...env, DAEMON__health__port: 'eighty' })).toBe(
      `${header}  - health.port: must be a whole number from 0 to 65535 (0 picks a free port)`,
    );
  });

  it('requires an enabled worker and a tenant list for a sweep', () => {
    const config = valid();
    config.workers.poller.enabled = false;
    config.workers.sweep.tenants = [];
    expect(problem(config)).toBe(
      `${header}  - workers.sweep.tenants: a tenant-sweep needs at least one tenant: list tenant ids under 'tenants'`,
    );
  });

  describe('downstreamApis', () => {
    /** Two named APIs instead of the shorthand; each worker names its own. */
    function named(): Fixture {
      const config = valid();
      delete config.api;
      config.downstreamApis = {
        orders: { baseUrl: 'https://orders.contoso.com/api', scopes: 'api://orders/.default' },
        billing: {
          baseUrl: 'https://billing.contoso.com',
          scopes: ['api://billing/.default'],
          credential: 'orders',
          timeoutMs: 5000,
        },
      };
      config.workers.poller.api = 'orders';
      config.workers.sweep.api = 'billing';
      return config;
    }

    it('are read by the library and named by each worker', () => {
      const config = loadDaemonConfig({ config: named(), env });
      expect(config.downstreamApis).toEqual(named().downstreamApis);
      expect(config.workers.sweep.api).toBe('billing');
    });

    it('a worker names an API that exists, or the only one there is', () => {
      const config = named();
      config.workers.poller.api = 'ordres';
      delete config.workers.sweep.api;
      expect(problem(config)).toBe(
        `${header}  - workers.poller.api: unknown API 'ordres': use one of orders, billing (the names under 'downstreamApis')\n` +
          `  - workers.sweep.api: several APIs are configured: name the one this worker calls with 'api' (one of orders, billing)`,
      );
      const one = named();
      delete one.downstreamApis!.billing;
      delete one.workers.poller.api;
      delete one.workers.sweep.api;
      expect(loadDaemonConfig({ config: one, env }).workers.sweep.api).toBe('orders');
    });

    it("reports a bad API with the library's messages, naming the path; no API at all", () => {
      const config = named();
      config.downstreamApis!.orders.baseUrl = 'http://orders.contoso.com';
      config.downstreamApis!.billing.credential = 'mail';
      config.downstreamApis!.billing.caPath = '/nonexistent/ca.pem';
      expect(problem(config)).toBe(
        `${header}  - downstreamApis.billing.caPath: cannot read '/nonexistent/ca.pem' (ENOENT): point it at a readable PEM file\n` +
          '  - downstreamApis.orders.baseUrl: must be https: the API token is sent only over https (plain http only to a loopback host with allowInsecureLoopback: true)\n' +
          "  - downstreamApis.billing.credential: names no configured credential — use one of 'orders', or leave it out for the default",
      );
      const none = valid();
      delete none.api;
      expect(problem(none)).toContain(
        "downstreamApis: required: name the API(s) the workers call under 'downstreamApis'",
      );
    });
  });

  describe('from a file', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'daemon-config-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads YAML and resolves paths relative to the file', () => {
      const file = join(dir, 'daemon.yaml');
      writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
      writeFileSync(
        file,
        [
          'api: { url: "https://api.contoso.com", scope: "api://orders/.default", caPath: ca.pem }',
          'credentials:',
          '  orders:',
          `    tenantId: ${TENANT}`,
          `    clientId: ${CLIENT}`,
          '    sources: [{ type: certificate, certificatePath: certs/orders.pem }]',
          'workers:',
          '  poller: { type: poller, intervalSeconds: 5, credential: orders }',
        ].join('\n'),
      );
      const config = loadDaemonConfig({ file, env: {} });
      expect(config.api?.caPath).toBe(join(dir, 'ca.pem'));
      expect(config.downstreamApis.api.ca).toBe('-----BEGIN CERTIFICATE-----\n');
      expect(config.clientCredentials.credentials.orders.sources[0]).toMatchObject({
        certificatePath: join(dir, 'certs/orders.pem'),
      });
    });

    it('names an unreadable file and the fix', () => {
      const file = join(dir, 'missing.yaml');
      expect(() => loadDaemonConfig({ file, env: {} })).toThrow(
        `Cannot read the daemon configuration '${file}': ENOENT: no such file or directory, open '${file}'. Set DAEMON_CONFIG to a readable YAML or JSON file (see apps/daemon/config/daemon.example.yaml).`,
      );
    });
  });
});

describe('secrets written in the file or set by DAEMON__ overrides', () => {
  const SECRET = 'Sup3rS3cret';
  const yaml = (secret: string) =>
    [
      'downstreamApis: { orders: { baseUrl: https://orders.contoso.com/api, scopes: api://orders/.default } }',
      'credentials:',
      '  orders:',
      `    tenantId: ${TENANT}`,
      `    clientId: ${CLIENT}`,
      '    sources:',
      '      - type: secret',
      `        secret: ${secret}`,
      'workers:',
      '  poller: { type: poller, intervalSeconds: 30, credential: orders }',
    ].join('\n');
  let dir: string;
  let printed: string[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'daemon-secrets-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    // What would reach the container's log: process warnings (printed on stderr) and stderr.
    printed = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((w: string | Error) => {
      printed.push(String(w));
    });
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  /** The secret the daemon would send, or the start-up error. */
  function load(
    file: string,
    e: Record<string, string> = {},
  ): { secret?: unknown; error?: string } {
    try {
      const { sources } = loadDaemonConfig({ file, env: e }).clientCredentials.credentials.orders;
      return { secret: (sources[0] as { secret?: unknown }).secret };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  it.each(['!Sup3rS3cret', '&k Sup3rS3cret', 'Sup3r #S3cret', '"Sup3rS3cret"', '12345678', '|x'])(
    'an override is the text as set (%s): never a tag, anchor, comment, quotes or a number; nothing printed',
    (value) => {
      const file = join(dir, 'override.yaml');
      writeFileSync(file, yaml("'placeholder'"));
      expect(load(file, { DAEMON__credentials__orders__sources__0__secret: value })).toEqual({
        secret: value,
      });
      expect(printed).toEqual([]);
    },
  );

  it('an override is a boolean or a number only when its text is plainly one', () => {
    const config = loadDaemonConfig({
      config: valid(),
      env: {
        ...env,
        DAEMON__health__port: '9090',
        DAEMON__health__host: '0x7f000001',
        DAEMON__workers__sweep__enabled: 'false',
        DAEMON__credentials__orders__clientId: '007',
      },
    });
    expect(config.health).toEqual({ host: '0x7f000001', port: 9090 });
    expect(config.workers.sweep.enabled).toBe(false);
    expect(config.clientCredentials.credentials.orders.clientId).toBe('007');
  });

  it.each([
    ['30.0', 30],
    ['1e3', 1000],
    ['+5', 5],
    ['.5', 0.5],
    ['TRUE', true],
    ['False', false],
    ['01', '01'],
    ['yes', 'yes'],
    ['1e999', '1e999'],
  ])(
    'an override %s is what YAML 1.2 reads as a decimal number or a boolean (%s)',
    (text, value) => {
      expect(overrideValue(text)).toBe(value);
    },
  );

  it.each([
    ['*Sup3rS3cret', "a value starts with '*' (an alias)"],
    ['|Sup3rS3cret', 'not valid YAML (UNEXPECTED_TOKEN)'],
    ['!Sup3rS3cret', "a value starts with '!' (a YAML tag)"],
  ])(
    'a secret YAML cannot read as written (%s) is a start-up error naming the file, line and column, never the text',
    (value, kind) => {
      const file = join(dir, 'inline.yaml');
      writeFileSync(file, yaml(value));
      const { error } = load(file);
      expect(error).toContain(`Cannot read the daemon configuration '${file}' as YAML:`);
      expect(error).toMatch(new RegExp(`line 8, column \\d+: ${kind.replace(/[()*|!]/g, '\\$&')}`));
      expect(error).toContain("quote it, e.g. secret: '…'");
      expect(error).not.toContain(SECRET);
      expect(printed).toEqual([]);
    },
  );

  it('the same secret quoted is read as written', () => {
    const file = join(dir, 'quoted.yaml');
    writeFileSync(file, yaml(`'!${SECRET} #1'`));
    expect(load(file)).toEqual({ secret: `!${SECRET} #1` });
    expect(printed).toEqual([]);
  });
});

describe('signer-backed credentials from configuration', () => {
  it('reads a pkcs11 and a key-vault source: files relative to the file, the vault CA from caPath', () => {
    const dir = mkdtempSync(join(tmpdir(), 'daemon-signers-'));
    try {
      writeFileSync(
        join(dir, 'vault-ca.pem'),
        '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      );
      const file = join(dir, 'daemon.yaml');
      writeFileSync(
        file,
        [
          'downstreamApis: { orders: { baseUrl: https://orders.contoso.com/api, scopes: api://orders/.default } }',
          'credentials:',
          '  hsm:',
          `    { tenantId: ${TENANT}, clientId: ${CLIENT}, sources: [{ type: pkcs11, modulePath: /usr/lib/softhsm/libsofthsm2.so, tokenLabel: daemon, keyLabel: k, pinFile: ./pin, certificatePath: ./hsm.pem }] }`,
          '  kv:',
          `    { tenantId: ${TENANT}, clientId: ${CLIENT}, sources: [{ type: key-vault, keyId: https://v.vault.azure.net/keys/k, credential: vault, certificatePath: ./kv.pem, caPath: ./vault-ca.pem }] }`,
          '  vault: { sources: [{ type: managed-identity }] }',
          'workers: { hsm-sync: { type: sync, intervalSeconds: 60, credential: hsm }, kv-sync: { type: sync, intervalSeconds: 60, credential: kv } }',
        ].join('\n'),
      );
      const { credentials } = loadDaemonConfig({ file, env: {} }).clientCredentials;
      expect(credentials.hsm.sources[0]).toMatchObject({
        type: 'pkcs11',
        pinFile: join(dir, 'pin'),
        certificatePath: join(dir, 'hsm.pem'),
      });
      expect(credentials.kv.sources[0]).toMatchObject({
        type: 'key-vault',
        certificatePath: join(dir, 'kv.pem'),
        ca: expect.stringContaining('BEGIN CERTIFICATE'),
      });
      expect(credentials.kv.sources[0]).not.toHaveProperty('caPath');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the example configuration', () => {
  it('loads with its variables set: every worker calls the named API', () => {
    const config = loadDaemonConfig({
      file: join(__dirname, '../../config/daemon.example.yaml'),
      env: {
        AZURE_TENANT_ID: TENANT,
        // As AKS workload identity sets them for the pod.
        AZURE_CLIENT_ID: CLIENT,
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
        ORDERS_CLIENT_ID: CLIENT,
        ORDERS_CLIENT_SECRET: 's3cr3t-value',
        ORDERS_CERT_CLIENT_ID: CLIENT,
        ORDERS_SNI_CLIENT_ID: CLIENT,
        BLUEPRINT_CLIENT_ID: CLIENT,
        BILLING_AGENT_ID: '6c1e8a61-1b2c-4d3e-8f90-0a1b2c3d4e5f',
        SUPPORT_AGENT_ID: '0f2b7c44-5d6e-4f70-8a9b-1c2d3e4f5a6b',
        ORDERS_HSM_CLIENT_ID: CLIENT,
        ORDERS_KV_CLIENT_ID: CLIENT,
      },
    });
    expect(Object.keys(config.downstreamApis)).toEqual(['orders']);
    expect(new Set(Object.values(config.workers).map((w) => w.api))).toEqual(new Set(['orders']));
  });
});
