import { clientCredentialsOptionsFromConfig } from '../options/options-from-config';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { downstreamApisFromConfig } from './downstream-api.options';

const SECRET = 'Zq8~not-to-be-echoed';

/** One document for both readers, as an app loads it (YAML/JSON) once. */
const document = {
  credentials: {
    orders: {
      tenantId: '11111111-2222-3333-4444-555555555555',
      clientId: 'orders-app',
      sources: [{ type: 'secret', secret: SECRET }],
    },
  },
  downstreamApis: {
    orders: { baseUrl: 'https://orders.contoso.com/api', scopes: 'api://orders/.default' },
    local: {
      baseUrl: 'http://127.0.0.1:8080',
      scopes: ['api://local/.default'],
      credential: 'orders',
      allowInsecureLoopback: true,
      timeoutMs: 5000,
    },
  },
};

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    expect((e as Error).message).not.toContain(SECRET);
    return (e as ConfigurationError).problems;
  }
  throw new Error('expected a ConfigurationError');
}

describe('downstreamApisFromConfig', () => {
  it('reads its section of a document that also holds the credentials', () => {
    expect(downstreamApisFromConfig(document)).toEqual({ apis: document.downstreamApis });
  });

  it('is no APIs for a document without the section', () => {
    expect(downstreamApisFromConfig({ credentials: document.credentials })).toEqual({ apis: {} });
    expect(downstreamApisFromConfig()).toEqual({ apis: {} });
  });

  it('names the path of each bad entry and how to fix it', () => {
    expect(
      problemsOf(() =>
        downstreamApisFromConfig({
          downstreamApis: {
            orders: { baseUrl: 'http://orders.contoso.com', scopes: 'api://orders/.default' },
            billing: { basUrl: 'https://billing', scopes: [] },
            mail: { baseUrl: 'https://mail.contoso.com', scopes: 'x', timeoutMs: '30s' },
            files: { baseUrl: 'https://files.contoso.com', scopes: 'x', maxResponseBytes: 2 ** 30 },
          },
        }),
      ),
    ).toEqual([
      'downstreamApis.orders.baseUrl: must be https: the API token is sent only over https (plain http only to a loopback host with allowInsecureLoopback: true)',
      'downstreamApis.billing.baseUrl: is required — set the API base URL, e.g. https://orders.contoso.com/api',
      "downstreamApis.billing.scopes: must list at least one scope, e.g. ['api://orders/.default']",
      "downstreamApis.billing: unknown option 'basUrl' — check the spelling",
      'downstreamApis.mail.timeoutMs: must be a number',
      'downstreamApis.files.maxResponseBytes: must be at most 268435456',
    ]);
  });

  it('refuses a document that is not an object', () => {
    expect(problemsOf(() => downstreamApisFromConfig('orders'))).toEqual([
      'the configuration document must be an object, e.g. { downstreamApis: { orders: { baseUrl, scopes } } }',
    ]);
  });
});

describe('clientCredentialsOptionsFromConfig with downstreamApis in the document', () => {
  it('accepts the section and leaves it out of the module options', () => {
    const options = clientCredentialsOptionsFromConfig(document, {});
    expect(options).toEqual({ credentials: document.credentials });
    expect(options).not.toHaveProperty('downstreamApis');
  });

  it("reports a bad API with the credentials' problems, and a credential no one configured", () => {
    const bad = {
      credentials: { orders: { ...document.credentials.orders, clientId: undefined } },
      downstreamApis: {
        orders: { baseUrl: 'not a url', scopes: 'api://orders/.default' },
        mail: { baseUrl: 'https://mail.contoso.com', scopes: 'x', credential: 'mail' },
      },
    };
    // The credentials' reader checks the APIs too: every problem of the document in one error.
    expect(problemsOf(() => clientCredentialsOptionsFromConfig(bad, {}))).toEqual([
      'credentials.orders.clientId: is required — set the application (client) ID',
      'downstreamApis.orders.baseUrl: must be a URL, e.g. https://orders.contoso.com/api',
      "downstreamApis.mail.credential: names no configured credential — use one of 'orders', or leave it out for the default",
    ]);
  });
});
