import {
  startDevAuthority,
  type AgentBlueprint,
  type AgentIdentity,
  type RequestLogEntry,
} from '@app/dev-authority';
import { decodeJwt } from 'jose';
import { AGENT_AADSTS_CATALOG, TokenRequestRejectedError } from '@app/client-credentials';
import { createAuthenticatedFetch, createTokenCredential } from '@app/client-credentials/calling';
import { useFixtures } from '../support/fixtures';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';
const SCOPE = 'api://dev-api/Data.Read';

/**
 * The agent user's leg (`user_fic`) as Entra answers it: a claims challenge reaches it, a refusal
 * about the user keeps the agent's exchange token (T2), the scopes Entra refuses are refused before
 * the network, and an unlinked agent user is a refusal, not an outage. Counted at the authority.
 */
describe("An agent user's token (user_fic)", () => {
  let app: TokenApp | undefined;
  let tenantId: string;
  let blueprint: AgentBlueprint;
  let secret: string;

  beforeAll(() => {
    const tenant = authority.createTenant();
    tenantId = tenant.tenantId;
    blueprint = tenant.createAgentBlueprint();
    secret = blueprint.addSecret();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** A new agent (tests revoke an agent's tokens) and a token service with `maxAttempts` 3. */
  async function start() {
    const agent = blueprint.createAgentIdentity();
    app = await startTokenApp({
      credentials: {
        fleet: {
          ...localCredential(authority, tenantId, blueprint.clientId, [{ type: 'secret', secret }]),
          agentBlueprint: true,
        },
      },
      retry: { maxAttempts: 3, initialDelayMs: 1 },
    });
    authority.resetLog();
    return { tokens: app.tokens, agent };
  }

  const userFic = (): RequestLogEntry[] => authority.log.filter((e) => e.grantType === 'user_fic');
  const as = (agent: AgentIdentity, agentUser: string) => ({
    credential: 'fleet',
    agent: agent.clientId,
    agentUser,
  });

  it("a claims challenge reaches the user's request (merged with cp1) and its token answers it", async () => {
    const { tokens, agent } = await start();
    const user = agent.createAgentUser();
    const first = await tokens.getAccessToken(SCOPE, as(agent, user.userPrincipalName));
    // The agent's tokens revoked: the API refuses the user's token with a CAE claims challenge.
    const before = authority.revokeTokens(tenantId, agent.clientId);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${first.token}`)).toBe(401);
    const challenge = JSON.stringify({
      access_token: { nbf: { essential: true, value: `${before}` } },
    });
    authority.resetLog();

    const answer = await tokens.getAccessTokenWithClaims(
      SCOPE,
      challenge,
      as(agent, user.userPrincipalName),
    );

    // One request, the user's: T1 and T2 come from the cache.
    expect(authority.countTokenRequests()).toBe(1);
    expect(userFic()).toHaveLength(1);
    expect(JSON.parse(userFic()[0].claims ?? '{}')).toMatchObject({
      access_token: { nbf: { essential: true, value: `${before}` }, xms_cc: { values: ['cp1'] } },
    });
    expect(answer.token).not.toBe(first.token);
    // The authority read the claims as for client credentials: the capability is in the token.
    expect(decodeJwt(answer.token).xms_cc).toEqual(['cp1']);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${answer.token}`)).toBe(200);
  });

  it("a refusal about the user (no such user 50034, no consent 65001) keeps the agent's exchange token", async () => {
    const { tokens, agent } = await start();
    const user = agent.createAgentUser();
    const t2 = await tokens.getAccessToken(EXCHANGE_SCOPE, {
      credential: 'fleet',
      agent: agent.clientId,
    });
    const fail = (scope: string, agentUser: string) =>
      tokens.getAccessToken(scope, as(agent, agentUser)).catch((e: unknown) => e);

    expect(await fail(SCOPE, 'nobody@contoso.example')).toMatchObject({
      code: 'request_rejected',
      aadsts: 50034,
    });
    expect(await fail('api://dev-api/Data.Write', user.userPrincipalName)).toMatchObject({
      code: 'request_rejected',
      aadsts: 65001,
    });
    authority.resetLog();

    const again = await tokens.getAccessToken(EXCHANGE_SCOPE, {
      credential: 'fleet',
      agent: agent.clientId,
    });
    expect(again.token).toBe(t2.token);
    expect(authority.countTokenRequests()).toBe(0);
    // The user's next token takes one request, its own.
    await tokens.getAccessToken(SCOPE, as(agent, user.userPrincipalName));
    expect(authority.countTokenRequests()).toBe(1);
  });

  it("'<resource>/.default' with another scope of it is refused before the network (Entra: AADSTS70011)", async () => {
    const { tokens, agent } = await start();
    const user = agent.createAgentUser();
    const error = await tokens
      .getAccessToken(['api://dev-api/.default', SCOPE], as(agent, user.userPrincipalName))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'InvalidRequestError', code: 'scope_invalid' });
    expect((error as Error).message).toContain(
      "combine 'api://dev-api/.default' with other scopes",
    );
    expect(authority.countTokenRequests()).toBe(0);
    // Either alone is an agent user's token.
    const all = await tokens.getAccessToken(
      'api://dev-api/.default',
      as(agent, user.userPrincipalName),
    );
    expect(all.token).toBeTruthy();
  });

  it('an agent user of another agent (AADSTS50000 server_error) is a refusal: one request, not retried', async () => {
    const { tokens, agent } = await start();
    const stranger = blueprint.createAgentIdentity().createAgentUser();

    const error = await tokens
      .getAccessToken(SCOPE, as(agent, stranger.userPrincipalName))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TokenRequestRejectedError);
    expect(error).toMatchObject({
      code: 'request_rejected',
      aadsts: 50000,
      agent: agent.clientId,
      hint: AGENT_AADSTS_CATALOG[50000].fix,
    });
    expect(userFic().map((e) => [e.status, e.errorCode])).toEqual([[400, 50000]]);
  });

  it('an outage of the user leg (500 AADSTS50000) is retried, not taken for a refusal', async () => {
    const { tokens, agent } = await start();
    const [first, second] = [agent.createAgentUser(), agent.createAgentUser()];
    // The agent's legs (T1, T2) cached by a first user's token: the fault meets the user leg.
    await tokens.getAccessToken(SCOPE, as(agent, first.userPrincipalName));
    authority.faults.add({ kind: 'status', status: 500, times: 1 });
    authority.resetLog();

    const token = await tokens.getAccessToken(SCOPE, as(agent, second.userPrincipalName));

    expect(token.source).toBe('network');
    // The fault's answer is a 500 with Entra's body for it: server_error, AADSTS50000.
    expect(userFic().map((e) => e.status)).toEqual([500, 200]);
  });

  it("fetch and an Azure SDK TokenCredential given an agent user send the user's token, not the agent's", async () => {
    const { tokens, agent } = await start();
    const user = agent.createAgentUser();
    const who = as(agent, user.userPrincipalName);
    const sent: string[] = [];
    const api = (async (_: unknown, init?: RequestInit) => {
      sent.push(new Headers(init?.headers).get('authorization')!.split(' ')[1]);
      return new Response('{}');
    }) as typeof fetch;
    const scope = 'api://dev-api/.default';

    await createAuthenticatedFetch(tokens, {
      baseUrl: 'https://api.example',
      scopes: scope,
      fetch: api,
      ...who,
    })('data');
    const sdk = await createTokenCredential(tokens, who).getToken(scope);

    for (const token of [sent[0], sdk!.token]) {
      expect(decodeJwt(token)).toMatchObject({ idtyp: 'user', oid: user.objectId });
    }
    // One user token for both: T1, T2 and the user's request, once each.
    expect(sdk!.token).toBe(sent[0]);
    expect(authority.countTokenRequests()).toBe(3);
  });
});
