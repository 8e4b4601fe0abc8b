import { loadDaemonConfig } from './load-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** A file with the fields whose values are text however they look: ids, headers, labels. */
function config() {
  return {
    downstreamApis: {
      orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://o/.default' },
    },
    credentials: {
      orders: {
        tenantId: TENANT,
        clientId: 'orders-app',
        sources: [{ type: 'secret', secret: 's3cret' }],
        tokenRequest: { headers: { 'x-api-key': 'k' }, parameters: { audience: 'a' } },
      },
      hsm: {
        tenantId: TENANT,
        clientId: 'hsm-app',
        sources: [
          {
            type: 'pkcs11',
            modulePath: '/usr/lib/softhsm/libsofthsm2.so',
            slot: 0,
            keyLabel: 'k',
            pinEnv: 'HSM_PIN',
            certificatePath: '/etc/daemon/hsm.pem',
          },
        ],
      },
    },
    workers: { poller: { type: 'poller', intervalSeconds: 30, credential: 'orders' } },
  };
}

function load(env: Record<string, string>) {
  return loadDaemonConfig({ config: config(), env });
}

function problems(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (e) {
    return (e as Error).message.split('\n').slice(1);
  }
  throw new Error('expected the configuration to be rejected');
}

describe('a DAEMON__ override is typed by the field it sets, not by how its text looks', () => {
  it('keeps all-digit and exponent-like text as text where the field is text', () => {
    const c = load({
      DAEMON__credentials__orders__clientId: '12345',
      DAEMON__credentials__orders__tokenRequest__headers__x_api_key: '2024',
      DAEMON__credentials__orders__tokenRequest__parameters__audience: '1e3',
      DAEMON__credentials__hsm__sources__0__keyLabel: '10',
      DAEMON__health__host: '1e3',
    });
    const orders = c.clientCredentials.credentials.orders;
    expect(orders.clientId).toBe('12345');
    expect(orders.tokenRequest).toEqual({
      headers: { 'x-api-key': '2024' },
      parameters: { audience: '1e3' },
    });
    expect(c.clientCredentials.credentials.hsm.sources[0]).toMatchObject({ keyLabel: '10' });
    expect(c.health.host).toBe('1e3');
  });

  it("is a number or a boolean where the daemon's schema or the library wants one", () => {
    const c = load({
      DAEMON__health__port: '9090',
      DAEMON__workers__poller__intervalSeconds: '1e3',
      DAEMON__workers__poller__runAtStart: 'FALSE',
      // Fields only the library knows: the text is refused there, the number or boolean taken.
      DAEMON__credentials__hsm__sources__0__slot: '3',
      DAEMON__credentials__hsm__sources__0__sendX5c: 'true',
    });
    expect(c.health.port).toBe(9090);
    expect(c.workers.poller).toMatchObject({ intervalSeconds: 1000, runAtStart: false });
    expect(c.clientCredentials.credentials.hsm.sources[0]).toMatchObject({
      slot: 3,
      sendX5c: true,
    });
  });

  it("reports a value neither as text nor as a number fits with the text's message", () => {
    // A key id is hex pairs: '1e3' is not one, and as 1000 it would read "must be a string".
    expect(
      problems({
        DAEMON__credentials__hsm__sources__0__keyLabel: 'k',
        DAEMON__credentials__hsm__sources__0__keyId: '1e3',
      }),
    ).toContain('  - credentials.hsm.sources[0].keyId: must be the CKA_ID in hex, e.g. "01a2"');
    // A number field given text that is no number is the schema's message about it.
    expect(problems({ DAEMON__health__port: 'eighty' })).toEqual([
      expect.stringMatching(/^ {2}- health\.port: /),
    ]);
  });
});
