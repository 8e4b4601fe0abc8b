import type { ClientCredentialsError } from '@app/client-credentials';
import { startDevAuthority } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';

/** The error `call` fails with (a call that succeeds fails the test). */
const refusalOf = (call: Promise<unknown>): Promise<ClientCredentialsError> =>
  call.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as ClientCredentialsError,
  );

/** App Service's words for an identity the app does not have. */
const UNASSIGNED = 'Unable to load the proper Managed Identity.';

const [authority] = useFixtures(startDevAuthority);

/**
 * App Service (Functions, Container Apps) refuses in its own shape, `{ statusCode, message,
 * correlationId }`, without Entra's `error` / `error_description`. Through msal-node, the
 * library's error carries that reason; an identity the app does not have is told like IMDS's
 * "Identity not found": the source is unavailable, the error names the identity to assign, and a
 * chain moves on. msal-node picks its managed identity source once per process: App Service has
 * this file to itself.
 */
describe('Managed identity (App Service): refusals as App Service sends them', () => {
  let http: AuthorityHttp;
  let app: TokenApp | undefined;
  const env = { ...process.env };
  // A client id no identity of the authority has.
  const missing = '00000000-0000-4000-8000-0000000000dd';

  beforeAll(() => {
    http = new AuthorityHttp(authority);
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  beforeEach(() => authority.resetLog());
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await releaseAll(http);
    process.env = env;
  });

  /** Statuses the App Service endpoint answered with, in order. */
  const endpointAnswers = () =>
    authority.log.filter((e) => e.target === 'managed-identity').map((e) => e.status);

  it('the endpoint answers in App Service shape only, its correlation id also in X-CORRELATION-ID', async () => {
    const answer = await http.get(
      `${authority.managedIdentity.endpoint}?api-version=2019-08-01&resource=api://dev-api&client_id=${missing}`,
      { 'x-identity-header': authority.managedIdentity.header },
    );
    expect(answer.status).toBe(400);
    expect(Object.keys(answer.json).sort()).toEqual(['correlationId', 'message', 'statusCode']);
    expect(answer.json).toMatchObject({ statusCode: 400, message: UNASSIGNED });
    expect(answer.headers['x-correlation-id']).toBe(answer.json.correlationId);
  });

  it('a user-assigned identity the app does not have: source_unavailable naming the identity and App Service reason, after one request', async () => {
    app = await startTokenApp({
      credentials: {
        mi: localManagedIdentity(authority, { clientId: missing }),
      },
    });
    const failure = await refusalOf(app.tokens.getAccessToken(authority.apiScope));
    expect(failure).toMatchObject({ code: 'source_unavailable', transient: false });
    const message = failure.message;
    expect(message).toContain(`the app-service endpoint answered "${UNASSIGNED}"`);
    expect(message).toContain(`assign the user-assigned identity with client id ${missing}`);
    expect(message).toContain('App Service, Function App or Container App');
    expect(message).not.toMatch(/AADSTS/);
    expect(failure.hint).toContain('set up the missing file or identity');
    // A fact about the app: neither msal nor the token path asks again.
    expect(endpointAnswers()).toEqual([400]);
  });

  it('a chain whose managed identity the app does not have moves on to its next source', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'managed-identity-assertion', managedIdentityClientId: missing },
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    expect(endpointAnswers()).toEqual([400]);
    expect(
      authority.log.filter((e) => e.target === 'token').map((e) => [e.credentialKind, e.status]),
    ).toEqual([['secret', 200]]);
    const skipped = app.tokens.getStats('api').skippedSources?.['managed-identity-assertion#0'];
    expect(skipped?.reason).toContain(UNASSIGNED);
    expect(skipped?.reason).toContain(
      `assign the user-assigned identity with client id ${missing}`,
    );
  });

  it("another refusal carries the endpoint's reason, and the AADSTS number it relays", async () => {
    const tenantId = authority.createTenant().tenantId;
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    app = await startTokenApp({
      credentials: {
        mi: localManagedIdentity(authority, { clientId: mi.clientId }),
      },
      retry: { maxAttempts: 1 },
    });
    const failure = await refusalOf(app.tokens.getAccessToken('api://nobody/.default'));
    expect(failure).toMatchObject({ code: 'request_rejected', aadsts: 500011, status: 400 });
    expect(failure.message).toContain(
      'was rejected: the managed identity endpoint answered HTTP 400: AADSTS500011: The resource principal named api://nobody was not found',
    );
    expect(failure.correlationId).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    // The hint of AADSTS500011, not the generic one.
    expect(failure.hint).toContain("Check the scope's resource URI");
    expect(endpointAnswers()).toEqual([400]);
  });
});
