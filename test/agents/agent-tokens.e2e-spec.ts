import { createCache } from 'cache-manager';
import { decodeJwt } from 'jose';
import { Keyv } from 'keyv';
import { startDevAuthority, type AgentBlueprint, type AgentIdentity } from '@app/dev-authority';
import {
  InvalidRequestError,
  TokenRequestRejectedError,
  type ClientCredentialsModuleOptions,
} from '@app/client-credentials';
import { HealthIndicatorService } from '@nestjs/terminus';
import {
  ClientCredentialsHealthIndicator,
  type CredentialHealth,
} from '@app/client-credentials/health';
import { useFixtures } from '../support/fixtures';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

/**
 * Agent identities (Microsoft Entra Agent ID) through the token service: a blueprint credential
 * gets each agent's token in two legs — its token exchange token for the agent (T1, `fmi_path`),
 * then the agent's own request with T1 as client assertion — both cached, one flight per leg, and
 * no agent's token ever served for another. Counted at the authority.
 */
describe('Agent identities of a blueprint credential', () => {
  let app: TokenApp | undefined;
  let tenantId: string;
  let blueprint: AgentBlueprint;
  let secret: string;
  let agents: AgentIdentity[];

  beforeAll(() => {
    const tenant = authority.createTenant();
    tenantId = tenant.tenantId;
    blueprint = tenant.createAgentBlueprint();
    secret = blueprint.addSecret();
    agents = [1, 2, 3].map((i) => blueprint.createAgentIdentity({ displayName: `agent ${i}` }));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    authority.setAccessTokenLifetime(3600);
  });

  async function start(options: Partial<ClientCredentialsModuleOptions> = {}) {
    app = await startTokenApp({
      credentials: {
        fleet: {
          ...localCredential(authority, tenantId, blueprint.clientId, [{ type: 'secret', secret }]),
          agentBlueprint: { agents: { billing: agents[0].clientId } },
        },
      },
      retry: { maxAttempts: 1 },
      ...options,
    });
    authority.resetLog();
    return app.tokens;
  }

  /** Token requests of leg 1 (the blueprint's, for T1) and leg 2 (the agent's) at the authority. */
  const legs = (agent?: AgentIdentity) => ({
    t1: authority.countTokenRequests({ clientId: blueprint.clientId, scope: EXCHANGE_SCOPE }),
    agent:
      authority.countTokenRequests(agent ? { clientId: agent.clientId } : {}) -
      (agent ? 0 : authority.countTokenRequests({ clientId: blueprint.clientId })),
  });

  it('each agent gets its own token — the agent as azp/oid, the blueprint as xms_par_app_azp — in exactly one T1 and one agent request; the API sees three callers', async () => {
    const tokens = await start();

    for (const agent of agents) {
      const token = await tokens.getAccessToken(authority.apiScope, {
        credential: 'fleet',
        agent: agent.clientId,
      });
      expect(token.source).toBe('network');
      expect(decodeJwt(token.token)).toMatchObject({
        azp: agent.clientId,
        oid: agent.objectId,
        xms_par_app_azp: blueprint.clientId,
      });
      expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    }

    expect(legs()).toEqual({ t1: 3, agent: 3 });
    for (const agent of agents) expect(legs(agent).agent).toBe(1);
    const callers = authority.log.filter((e) => e.target === 'api').map((e) => e.clientId);
    expect(new Set(callers)).toEqual(new Set(agents.map((a) => a.clientId)));

    // Hits: no request at all, by app id (any case) or by configured name.
    authority.resetLog();
    const again = await Promise.all([
      tokens.getAccessToken(authority.apiScope, { credential: 'fleet', agent: agents[0].clientId }),
      tokens.getAccessToken(authority.apiScope, {
        credential: 'fleet',
        agent: agents[0].clientId.toUpperCase(),
      }),
      tokens.getAccessToken(authority.apiScope, { credential: 'fleet', agent: 'billing' }),
    ]);
    expect(new Set(again.map((t) => t.token)).size).toBe(1);
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('500 concurrent cold calls for one agent: one T1 request and one agent request', async () => {
    const tokens = await start();
    const agent = agents[1];

    const answers = await Promise.all(
      Array.from({ length: 500 }, () =>
        tokens.getAccessToken(authority.apiScope, { credential: 'fleet', agent: agent.clientId }),
      ),
    );

    expect(new Set(answers.map((t) => t.token)).size).toBe(1);
    expect(legs(agent)).toEqual({ t1: 1, agent: 1 });
    // The blueprint's own token is another principal: a request of its own, not T1.
    const own = await tokens.getAccessToken(authority.apiScope, { credential: 'fleet' });
    expect(decodeJwt(own.token).azp).toBe(blueprint.clientId);
    expect(authority.countTokenRequests({ clientId: blueprint.clientId })).toBe(2);
  });

  it("agent A's token is never served under agent B's key, not even from a store written under it", async () => {
    const store = createCache({ stores: [new Keyv()] });
    const tokens = await start({ cache: { store } });
    const [a, b] = agents;
    const tokenA = await tokens.getAccessToken(authority.apiScope, {
      credential: 'fleet',
      agent: a.clientId,
    });
    // Copy every stored entry of A (its T1 and its token) under B's keys, as a hostile or
    // confused writer of the app's store could.
    const keyv = store.stores[0];
    const entries: [string, unknown][] = [];
    for await (const [key, value] of keyv.iterator!(undefined)) entries.push([key, value]);
    expect(entries.length).toBe(2);
    for (const [key, value] of entries) {
      await keyv.set(key.split(a.clientId).join(b.clientId), value);
    }

    const tokenB = await tokens.getAccessToken(authority.apiScope, {
      credential: 'fleet',
      agent: b.clientId,
    });

    expect(tokenB.token).not.toBe(tokenA.token);
    expect(decodeJwt(tokenB.token).azp).toBe(b.clientId);
    expect(legs(b)).toEqual({ t1: 2, agent: 1 });
  });

  it('the agent refreshes in the background; its T1 is asked for again only once it cannot be used', async () => {
    // 20 s tokens (T1 too), refreshed after 2 s: T1 stays usable for 15 s, however slow the run.
    authority.setAccessTokenLifetime(20, { refreshInSeconds: 2 });
    const tokens = await start();
    const agent = agents[2];
    const first = await tokens.getAccessToken(authority.apiScope, {
      credential: 'fleet',
      agent: agent.clientId,
    });

    await new Promise((r) => setTimeout(r, 2_500));
    // A hit past the refresh point: served from the cache, and the refresh starts behind it.
    const second = await tokens.getAccessToken(authority.apiScope, {
      credential: 'fleet',
      agent: agent.clientId,
    });
    expect(second.source).toBe('cache');
    // Until the refreshed token is the one served.
    let third = second;
    for (let i = 0; i < 500 && third.token === first.token; i++) {
      await new Promise((r) => setTimeout(r, 20));
      third = await tokens.getAccessToken(authority.apiScope, {
        credential: 'fleet',
        agent: agent.clientId,
      });
    }

    expect(third.token).not.toBe(first.token);
    expect(third.source).toBe('cache');
    expect(legs(agent)).toEqual({ t1: 1, agent: 2 });
  });

  it('fails typed: an agent of a credential that is no blueprint, an unknown name, an agent of another blueprint, a wrong blueprint secret', async () => {
    const plain = authority.createTenant();
    const other = plain.createApp();
    app = await startTokenApp({
      credentials: {
        fleet: {
          ...localCredential(authority, tenantId, blueprint.clientId, [{ type: 'secret', secret }]),
          agentBlueprint: true,
        },
        wrong: {
          ...localCredential(authority, tenantId, blueprint.clientId, [
            { type: 'secret', secret: 'not-the-secret' },
          ]),
          agentBlueprint: true,
        },
        plain: localCredential(authority, plain.tenantId, other.clientId, [
          { type: 'secret', secret: other.addSecret() },
        ]),
      },
      retry: { maxAttempts: 1 },
    });
    const tokens = app.tokens;
    authority.resetLog();
    const fail = (options: object) =>
      tokens.getAccessToken(authority.apiScope, options).catch((e: unknown) => e);

    expect(await fail({ credential: 'plain', agent: agents[0].clientId })).toMatchObject({
      code: 'agent_unsupported',
    });
    expect(await fail({ credential: 'fleet', agent: 'billing' })).toBeInstanceOf(
      InvalidRequestError,
    );
    expect(await fail({ credential: 'fleet', agent: 'billing' })).toMatchObject({
      code: 'agent_unknown',
    });
    expect(await fail({ credential: 'fleet', agentUser: 'someone@contoso.example' })).toMatchObject(
      { code: 'agent_unsupported' },
    );
    expect(authority.countTokenRequests()).toBe(0);

    const stranger = authority.createTenant().createAgentBlueprint().createAgentIdentity();
    const refused = await fail({ credential: 'fleet', agent: stranger.clientId });
    expect(refused).toBeInstanceOf(TokenRequestRejectedError);
    expect(refused).toMatchObject({
      code: 'request_rejected',
      aadsts: 9002313,
      agent: stranger.clientId,
    });

    const wrong = await fail({ credential: 'wrong', agent: agents[0].clientId });
    expect(wrong).toMatchObject({ code: 'credential_rejected', aadsts: 7000215 });
    expect((wrong as Error).message).toContain(agents[0].clientId);
    expect((wrong as { hint: string }).hint).toMatch(/blueprint's secret/);
    // Failures of agents are the agents', not the blueprint's own.
    expect(tokens.getStats('wrong').lastError).toBeUndefined();
    expect(tokens.getStats('wrong').agents?.[agents[0].clientId]?.lastError).toMatchObject({
      code: 'credential_rejected',
    });
    // A blueprint used for agents only is judged on them: up while one works, listing the others.
    await tokens.getAccessToken(authority.apiScope, {
      credential: 'fleet',
      agent: agents[0].clientId,
    });
    const health = new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
    const { credentials } = health.isHealthy('c', { credentials: ['fleet', 'wrong'] })
      .c as unknown as {
      credentials: Record<string, CredentialHealth>;
    };
    expect(credentials.fleet).toMatchObject({
      status: 'up',
      failingAgents: { [stranger.clientId]: { code: 'request_rejected', aadsts: 9002313 } },
    });
    expect(credentials.wrong).toMatchObject({
      status: 'down',
      failingAgents: { [agents[0].clientId]: { code: 'credential_rejected', aadsts: 7000215 } },
    });

    // An agent user named without its agent is refused as well once the blueprint's own token of
    // these scopes is cached: never served the blueprint's app-only token instead.
    await tokens.getAccessToken(authority.apiScope, { credential: 'fleet' });
    expect(await fail({ credential: 'fleet', agentUser: 'someone@contoso.example' })).toMatchObject(
      { code: 'agent_unsupported' },
    );
  });

  it("a caller's unknown agent user or bad scope is its request's failure, not the agent's: an agents-only blueprint stays up", async () => {
    const agent = agents[1];
    const tokens = await start();
    const health = () =>
      (
        new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService()).isHealthy('c', {
          credentials: ['fleet'],
        }).c as unknown as { credentials: Record<string, CredentialHealth> }
      ).credentials.fleet;
    const as = { credential: 'fleet', agent: agent.clientId };
    const own = await tokens.getAccessToken(authority.apiScope, as);
    const fail = (scope: string, agentUser?: string) =>
      tokens.getAccessToken(scope, { ...as, agentUser }).catch((e: unknown) => e);

    // A user taken from an incoming request that is no agent user (50034); a scope of no resource.
    expect(await fail('api://dev-api/Data.Read', 'nobody@contoso.example')).toMatchObject({
      aadsts: 50034,
    });
    expect(await fail('api://no-such-api/.default')).toMatchObject({ code: 'request_rejected' });

    expect(health()).toEqual(expect.objectContaining({ status: 'up' }));
    expect(health().failingAgents).toBeUndefined();
    const stats = tokens.getStats('fleet').agents![agent.clientId];
    expect(stats.lastOutcome).toBe('success');
    // Each request's outcome is kept, by its scopes (an agent user's naming the user).
    expect(stats.scopes).toMatchObject({
      [authority.apiScope]: { lastOutcome: 'success' },
      'user=nobody@contoso.example api://dev-api/Data.Read': {
        lastOutcome: 'failure',
        lastError: { aadsts: 50034 },
      },
      'api://no-such-api/.default': { lastOutcome: 'failure' },
    });
    expect((await tokens.getAccessToken(authority.apiScope, as)).token).toBe(own.token);
  });

  it("the agent user's delegated token takes a third leg (user_fic): one request per leg, cached", async () => {
    const agent = agents[0];
    const user = agent.createAgentUser({ userPrincipalName: 'billing-agent@contoso.example' });
    const tokens = await start();
    const ask = () =>
      tokens.getAccessToken('api://dev-api/Data.Read', {
        credential: 'fleet',
        agent: 'billing',
        agentUser: user.userPrincipalName,
      });

    const answers = await Promise.all(Array.from({ length: 50 }, ask));

    expect(new Set(answers.map((t) => t.token)).size).toBe(1);
    expect(decodeJwt(answers[0].token)).toMatchObject({
      idtyp: 'user',
      oid: user.objectId,
      azp: agent.clientId,
      scp: 'Data.Read',
    });
    // T1 once; the agent's exchange token (T2) once; the user's token once.
    expect(legs(agent)).toEqual({ t1: 1, agent: 2 });
    expect(authority.countTokenRequests({ clientId: agent.clientId, scope: EXCHANGE_SCOPE })).toBe(
      1,
    );
    expect((await ask()).source).toBe('cache');
    // By object id: another principal name for the same user, a token of its own.
    const byId = await tokens.getAccessToken('api://dev-api/Data.Read', {
      credential: 'fleet',
      agent: agent.clientId,
      agentUser: user.objectId,
    });
    expect(decodeJwt(byId.token).oid).toBe(user.objectId);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${byId.token}`)).toBe(200);
  });
});
