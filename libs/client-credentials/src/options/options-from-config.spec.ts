import {
  clientCredentialsOptionsFromConfig,
  credentialFromEnvironment,
} from './options-from-config';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { resolveOptions } from './resolve-options';

const TENANT = '11111111-2222-3333-4444-555555555555';
const SECRET = 'Zq8~not-to-be-echoed';

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

describe('credentialFromEnvironment', () => {
  it('is undefined when no AZURE_* variable is set', () => {
    expect(credentialFromEnvironment({ PATH: '/bin' })).toBeUndefined();
  });

  it('builds a secret credential', () => {
    expect(
      credentialFromEnvironment({
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: 'app',
        AZURE_CLIENT_SECRET: SECRET,
      }),
    ).toEqual({ tenantId: TENANT, clientId: 'app', sources: [{ type: 'secret', secret: SECRET }] });
  });

  it('chains every source present, in @azure/identity order, with the authority host', () => {
    expect(
      credentialFromEnvironment({
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: 'app',
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
        AZURE_CLIENT_CERTIFICATE_PATH: '/etc/app/cert.pem',
        AZURE_CLIENT_CERTIFICATE_PASSWORD: SECRET,
        AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: 'true',
        AZURE_CLIENT_SECRET: SECRET,
        AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us',
      }),
    ).toEqual({
      tenantId: TENANT,
      clientId: 'app',
      authorityHost: 'https://login.microsoftonline.us',
      sources: [
        { type: 'secret', secret: SECRET },
        {
          type: 'certificate',
          certificatePath: '/etc/app/cert.pem',
          passphrase: SECRET,
          sendX5c: true,
        },
        {
          type: 'workload-identity',
          tokenFilePath: '/var/run/secrets/azure/tokens/azure-identity-token',
        },
      ],
    });
  });

  it.each([
    [
      { AZURE_CLIENT_SECRET: SECRET },
      [
        'AZURE_TENANT_ID: is required — set the directory (tenant) ID',
        'AZURE_CLIENT_ID: is required — set the application (client) ID',
      ],
    ],
    [
      { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: 'app' },
      [
        'AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE: set at least one, or unset the other AZURE_* variables',
      ],
    ],
    [
      {
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: 'app',
        AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem',
        AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: 'maybe',
      },
      ['AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: must be true or false'],
    ],
    [
      {
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: 'app',
        AZURE_CLIENT_SECRET: SECRET,
        AZURE_CLIENT_CERTIFICATE_PASSWORD: SECRET,
      },
      [
        'AZURE_CLIENT_CERTIFICATE_PATH: is required when AZURE_CLIENT_CERTIFICATE_PASSWORD or AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is set',
      ],
    ],
  ])('rejects %j naming the variable', (env, expected) => {
    expect(problemsOf(() => credentialFromEnvironment(env))).toEqual(expected);
  });
});

describe('clientCredentialsOptionsFromConfig', () => {
  const document = {
    credentials: {
      graph: {
        tenantId: TENANT,
        clientId: 'graph-app',
        sources: [
          { type: 'workload-identity', tokenFilePath: '/var/run/token' },
          { type: 'certificate', certificatePath: '/etc/app/cert.pem', sendX5c: true },
        ],
      },
      storage: { sources: [{ type: 'managed-identity', clientId: 'mi-client' }] },
    },
    defaultCredential: 'graph',
    refresh: { refreshAt: 0.6 },
  };

  it('takes several named credentials with ordered sources from a document', () => {
    expect(clientCredentialsOptionsFromConfig(document, {})).toEqual(document);
  });

  it('takes the environment credential as `default` when the document names no credentials', () => {
    const env = {
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: 'env-app',
      AZURE_CLIENT_SECRET: SECRET,
    };
    for (const doc of [{}, { credentials: {} }, { refresh: { refreshAt: 0.6 } }]) {
      const options = clientCredentialsOptionsFromConfig(doc, env);
      expect(Object.keys(options.credentials)).toEqual(['default']);
      expect(options.credentials.default.clientId).toBe('env-app');
      expect(resolveOptions(options).defaultCredential).toBe('default');
    }
  });

  it.each([
    [
      'only AZURE_CLIENT_ID (a user-assigned managed identity for DefaultAzureCredential)',
      { AZURE_CLIENT_ID: 'mi-client' },
    ],
    [
      "the AKS workload identity webhook's variables",
      {
        AZURE_CLIENT_ID: 'wi-client',
        AZURE_TENANT_ID: TENANT,
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
        AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
      },
    ],
    [
      'a complete set',
      { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: 'env-app', AZURE_CLIENT_SECRET: SECRET },
    ],
  ])(
    'leaves a document naming its own credentials as it is with %s: no error, no second credential, its default kept',
    (_what, env) => {
      const one = { credentials: { graph: document.credentials.graph } };
      const options = clientCredentialsOptionsFromConfig(one, env);
      expect(options).toEqual(one);
      expect(resolveOptions(options).defaultCredential).toBe('graph');
      expect(clientCredentialsOptionsFromConfig(document, env)).toEqual(document);
    },
  );

  it("takes the environment credential under a name whose value is 'environment'", () => {
    const options = clientCredentialsOptionsFromConfig(
      { credentials: { graph: document.credentials.graph, default: 'environment' } },
      { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: 'env-app', AZURE_CLIENT_SECRET: SECRET },
    );
    expect(options.credentials).toEqual({
      graph: document.credentials.graph,
      default: {
        tenantId: TENANT,
        clientId: 'env-app',
        sources: [{ type: 'secret', secret: SECRET }],
      },
    });
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          { credentials: { graph: document.credentials.graph, azure: 'environment' } },
          { PATH: '/bin' },
        ),
      ),
    ).toEqual([
      "credentials.azure: is 'environment' (the AZURE_* variables' credential) but no AZURE_* variable is set — set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or configure the credential in the document",
    ]);
  });

  it('reports problems of the environment and of the document together', () => {
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          {
            credentials: {
              mail: { tenantId: TENANT, clientId: 'app', sources: [] },
              default: 'environment',
            },
          },
          { AZURE_CLIENT_SECRET: SECRET },
        ),
      ),
    ).toEqual([
      'AZURE_TENANT_ID: is required — set the directory (tenant) ID',
      'AZURE_CLIENT_ID: is required — set the application (client) ID',
      "credentials.mail.sources: must list at least one source, e.g. [{ type: 'secret', secret: '…' }]",
    ]);
    // With no credentials in the document, the variables are its configuration: their problems stop it.
    expect(
      problemsOf(() => clientCredentialsOptionsFromConfig({}, { AZURE_CLIENT_ID: 'app' })),
    ).toEqual([
      'AZURE_TENANT_ID: is required — set the directory (tenant) ID',
      'AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE: set at least one, or unset the other AZURE_* variables',
    ]);
  });

  it.each([undefined, null])(
    'refuses a missing section (%s) rather than reading the AZURE_* variables alone',
    (section) => {
      // As on AKS, where the webhook sets the pod's identity for every container.
      const webhook = {
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: 'pod-identity',
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
      };
      expect(problemsOf(() => clientCredentialsOptionsFromConfig(section, webhook))).toEqual([
        'the configuration section is missing (undefined or null: a misspelt key, or a file not loaded?) — pass the section, or pass {} explicitly to build the credential from the AZURE_* variables',
      ]);
    },
  );

  it("reports the document's own problems when no credential results, with the key a typo stands for", () => {
    const graph = {
      tenantId: TENANT,
      clientId: 'app',
      sources: [{ type: 'secret', secret: SECRET }],
    };
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          { credential: { graph }, retry: { maxAttempts: 'x' } },
          {},
        ),
      ),
    ).toEqual([
      'credentials: none configured — set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or name credentials in the configuration document',
      'retry.maxAttempts: must be a number',
      "unknown option 'credential' (did you mean 'credentials'?) — check the spelling",
    ]);
    // Variables set for the pod do not hide the typo either.
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          { Credentials: { graph } },
          { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: 'pod', AZURE_FEDERATED_TOKEN_FILE: '/t' },
        ),
      ),
    ).toEqual(["unknown option 'Credentials' (did you mean 'credentials'?) — check the spelling"]);
  });

  it('names the AZURE_* variable of a problem of the credential the variables made', () => {
    const env = { AZURE_CLIENT_ID: 'app', AZURE_CLIENT_SECRET: SECRET };
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          {},
          {
            ...env,
            AZURE_TENANT_ID: 'common',
            AZURE_AUTHORITY_HOST: `https://login.microsoftonline.com/${TENANT}`,
          },
        ),
      ),
    ).toEqual([
      "AZURE_TENANT_ID: 'common' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
      `AZURE_AUTHORITY_HOST: is the host only, without '${TENANT}' in its path — put the tenant in tenantId, e.g. authorityHost: 'https://login.microsoftonline.com'`,
    ]);
    // Under a name the document gives it, too.
    expect(
      problemsOf(() =>
        clientCredentialsOptionsFromConfig(
          { credentials: { azure: 'environment' } },
          { ...env, AZURE_TENANT_ID: 'organizations' },
        ),
      ),
    ).toEqual([
      "AZURE_TENANT_ID: 'organizations' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
    ]);
  });

  it.each([
    [
      {},
      [
        'credentials: none configured — set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or name credentials in the configuration document',
      ],
    ],
    [
      'not an object',
      ['the configuration document must be an object, e.g. { credentials: { … } }'],
    ],
    [
      {
        credentials: {
          graph: {
            tenantId: TENANT,
            clientId: 'app',
            sources: [
              { type: 'secret', secret: SECRET },
              { type: 'workload-identity', tokenFilePath: '' },
              { type: 'vault' },
            ],
          },
          mail: {
            tenantId: TENANT,
            sources: [
              { type: 'managed-identity', clientId: 'a', objectId: 'b' },
              { type: 'secret', secret: SECRET },
            ],
          },
        },
        timeouts: { requestMs: '10s' },
      },
      [
        'credentials.graph.sources[1].tokenFilePath: must not be empty — set a value or leave the field out',
        "credentials.graph.sources[2].type: has an unknown `type` — use 'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'",
        'credentials.mail.sources[0]: names a user-assigned identity by one of `clientId`, `resourceId` or `objectId`, not several',
        "credentials.mail.sources: mixes 'managed-identity' (the managed identity's own tokens) with app credentials: its tokens would be of two different identities under one name — give the managed identity a credential of its own, or use 'managed-identity-assertion' to sign in as the app",
        'credentials.mail.clientId: is required — set the application (client) ID',
        'timeouts.requestMs: must be a number',
      ],
    ],
    [
      {
        credentials: { mail: { tenantId: TENANT, sources: [{ type: 'secret', secret: SECRET }] } },
      },
      ['credentials.mail.clientId: is required — set the application (client) ID'],
    ],
  ])('rejects document %j naming each path', (doc, expected) => {
    expect(problemsOf(() => clientCredentialsOptionsFromConfig(doc, {}))).toEqual(expected);
  });
});
