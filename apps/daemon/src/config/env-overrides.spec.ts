import { loadDaemonConfig } from './load-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';
const BILLING = 'aaaaaaaa-0000-0000-0000-000000000001';
const OTHER = 'bbbbbbbb-0000-0000-0000-000000000002';
const SECRET = 'n3w-S3cret-value';

/** A file as users write it: secrets and the tenant from `${VAR}`. */
function config() {
  return {
    downstreamApis: {
      orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://o/.default' },
    },
    credentials: {
      'orders-secret': {
        tenantId: '${AZURE_TENANT_ID}',
        clientId: CLIENT,
        sources: [{ type: 'secret', secret: '${ORDERS_SECRET}' }],
        agentBlueprint: { agents: { billing: BILLING } },
      },
    },
    workers: {
      'status-poller': { type: 'poller', intervalSeconds: 30, credential: 'orders-secret' },
    },
  };
}

const env = { AZURE_TENANT_ID: TENANT, ORDERS_SECRET: 'old-secret' };

function load(overrides: Record<string, string>, vars: Record<string, string> = env) {
  return loadDaemonConfig({ config: config(), env: { ...vars, ...overrides } });
}

/** The problems loading with `overrides` fails with, one per line. */
function problems(overrides: Record<string, string>, vars: Record<string, string> = env): string[] {
  try {
    load(overrides, vars);
  } catch (e) {
    const message = (e as Error).message;
    // No value of an override is ever repeated.
    for (const value of Object.values(overrides)) expect(message).not.toContain(value);
    return message.split('\n').slice(1);
  }
  throw new Error('expected the configuration to be rejected');
}

const credential = (o: Record<string, string>, vars?: Record<string, string>) =>
  load(o, vars).clientCredentials.credentials['orders-secret'];

describe('DAEMON__ overrides are resolved against the file before they are applied', () => {
  it('refuses a name that is not in a section of named entries, naming the ones that are', () => {
    expect(
      problems({ DAEMON__credentials__orders_secret__agentBlueprint__agents__Billing: OTHER }),
    ).toEqual([
      `  - DAEMON__credentials__orders_secret__agentBlueprint__agents__Billing: no key 'Billing' under credentials.orders-secret.agentBlueprint.agents (keys: billing); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`,
    ]);
    expect(problems({ DAEMON__workers__Status_Poller__enabled: 'false' })).toEqual([
      `  - DAEMON__workers__Status_Poller__enabled: no key 'Status_Poller' under workers (keys: status-poller); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`,
    ]);
    expect(problems({ DAEMON__credentials__Orders_Secret__sources__0__secret: SECRET })).toEqual([
      `  - DAEMON__credentials__Orders_Secret__sources__0__secret: no key 'Orders_Secret' under credentials (keys: orders-secret); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`,
    ]);
    // A section the file does not have has no names either.
    expect(
      problems({ DAEMON__credentials__orders_secret__tokenRequest__headers__x_tenant: 'V4LUE-a' }),
    ).toEqual([
      `  - DAEMON__credentials__orders_secret__tokenRequest__headers__x_tenant: no key 'x_tenant' under credentials.orders-secret.tokenRequest.headers (it has none); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`,
    ]);
    // The name as written is applied.
    expect(
      credential({ DAEMON__credentials__orders_secret__agentBlueprint__agents__billing: OTHER })
        .agentBlueprint,
    ).toEqual({ agents: { billing: OTHER } });
  });

  it('takes a decimal index of a list, or the next one; never another property of a list', () => {
    expect(problems({ DAEMON__credentials__orders_secret__sources__O__secret: SECRET })).toEqual([
      `  - DAEMON__credentials__orders_secret__sources__O__secret: 'O' is not an index of the list credentials.orders-secret.sources: use 0 (1 adds an entry)`,
    ]);
    expect(problems({ DAEMON__credentials__orders_secret__sources__2__secret: SECRET })).toEqual([
      `  - DAEMON__credentials__orders_secret__sources__2__secret: '2' is not an index of the list credentials.orders-secret.sources: use 0 (1 adds an entry)`,
    ]);
    expect(
      credential({ DAEMON__credentials__orders_secret__sources__0__secret: SECRET }).sources,
    ).toEqual([{ type: 'secret', secret: SECRET }]);
    const added = credential({
      DAEMON__credentials__orders_secret__sources__1__type: 'secret',
      DAEMON__credentials__orders_secret__sources__1__secret: SECRET,
    });
    expect(added.sources).toEqual([
      { type: 'secret', secret: 'old-secret' },
      { type: 'secret', secret: SECRET },
    ]);
  });

  it("refuses a key the daemon's schema does not have, or one that differs from the file's in case", () => {
    expect(problems({ DAEMON__Health__Port: '9090', DAEMON__health__prot: '9090' })).toEqual([
      `  - DAEMON__Health__Port: 'Health' is not a key under the top level: use one of health, shutdownTimeoutSeconds, api, downstreamApis, credentials, workers (names are case-sensitive)`,
      `  - DAEMON__health__prot: 'prot' is not a key under health: use one of host, port (names are case-sensitive)`,
    ]);
    expect(problems({ DAEMON__credentials__orders_secret__TenantId: TENANT })).toEqual([
      `  - DAEMON__credentials__orders_secret__TenantId: no key 'TenantId' under credentials.orders-secret (keys: tenantId); names are case-sensitive: write the key as the file does (a '-' as '_'), or add the entry to the file`,
    ]);
    expect(problems({ DAEMON__credentials__orders_secret__clientId__x: 'V4LUE-a' })).toEqual([
      `  - DAEMON__credentials__orders_secret__clientId__x: credentials.orders-secret.clientId is a single value in the configuration, not a mapping or a list: override credentials.orders-secret.clientId itself, or change the file`,
    ]);
    // New keys the schemas name: a section the file leaves out, a field of a credential or worker.
    const loaded = load({
      DAEMON__health__port: '9090',
      DAEMON__credentials__orders_secret__authorityHost: 'https://login.example.com',
      DAEMON__workers__status_poller__runAtStart: 'false',
    });
    expect(loaded.health.port).toBe(9090);
    expect(loaded.workers['status-poller'].runAtStart).toBe(false);
    expect(loaded.clientCredentials.credentials['orders-secret'].authorityHost).toBe(
      'https://login.example.com',
    );
  });

  it('stands in for a ${VAR} that is unset; the variable is still required without it', () => {
    const vars = {};
    expect(problems({}, vars)).toEqual([
      '  - credentials.orders-secret.tenantId: uses ${AZURE_TENANT_ID} but the environment variable AZURE_TENANT_ID is not set: export it (or write the value)',
      '  - credentials.orders-secret.sources[0].secret: uses ${ORDERS_SECRET} but the environment variable ORDERS_SECRET is not set: export it (or write the value)',
    ]);
    const c = credential(
      {
        DAEMON__credentials__orders_secret__tenantId: TENANT,
        DAEMON__credentials__orders_secret__sources__0__secret: SECRET,
      },
      vars,
    );
    expect(c.tenantId).toBe(TENANT);
    expect(c.sources).toEqual([{ type: 'secret', secret: SECRET }]);
    // An override of a whole source replaces the one that named the variable.
    expect(
      problems(
        { DAEMON__credentials__orders_secret__sources__0: 'V4LUE-x' },
        { AZURE_TENANT_ID: TENANT },
      ),
    ).toEqual([
      '  - credentials.orders-secret.sources[0]: Invalid input: expected object, received string',
    ]);
  });
});
