import { ConfidentialClientApplication, ServerError } from '@azure/msal-node';
import { decodeJwt } from 'jose';
import {
  exchangeSubject,
  startDevAuthority,
  TOKEN_EXCHANGE_APP_ID,
  type AgentBlueprint,
  type AgentIdentity,
  type Tenant,
} from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { TrustingNetworkClient } from '../support/trusting-network-client';

const [authority] = useFixtures(startDevAuthority);

const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

/**
 * The local authority's Microsoft Entra Agent ID, as unmodified msal-node 7 sees it: a blueprint's
 * token exchange token (T1, `fmiPath`) for its agent, the agent's own token with T1 as its client
 * assertion, the agent user's token (`user_fic`), and Entra's answers to the wrong ways.
 */
describe('dev-authority: agent identities with unmodified msal-node', () => {
  let tenant: Tenant;
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;
  let blueprint: AgentBlueprint;
  let secret: string;
  let agent: AgentIdentity;

  beforeAll(() => {
    tenant = authority.createTenant();
    network = new TrustingNetworkClient(authority.caPem);
    http = new AuthorityHttp(authority);
    blueprint = tenant.createAgentBlueprint({ displayName: 'fleet blueprint' });
    secret = blueprint.addSecret();
    agent = blueprint.createAgentIdentity({ displayName: 'agent A' });
  });

  afterAll(() => releaseAll(network, http));

  const cca = (clientId: string, credential: Record<string, unknown>, tenantId = tenant.tenantId) =>
    new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${authority.url}/${tenantId}`,
        knownAuthorities: [authority.host],
        ...credential,
      },
      system: { networkClient: network },
    });

  /** Leg 1 as msal-node sends it for `fmiPath`. */
  const t1 = async (fmiPath: string | undefined, tenantId = tenant.tenantId) =>
    (await cca(
      blueprint.clientId,
      { clientSecret: secret },
      tenantId,
    ).acquireTokenByClientCredential({
      scopes: [EXCHANGE_SCOPE],
      ...(fmiPath === undefined ? {} : { fmiPath }),
      skipCache: true,
    }))!.accessToken;

  /** Leg 2: the agent's client credentials request with `assertion` as client assertion. */
  const leg2 = async (clientId: string, assertion: string, scope = authority.apiScope) =>
    (await cca(clientId, { clientAssertion: assertion }).acquireTokenByClientCredential({
      scopes: [scope],
      skipCache: true,
    }))!.accessToken;

  const errorOf = async (work: Promise<unknown>) => {
    const e = await work.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(e).toBeInstanceOf(ServerError);
    return e as ServerError;
  };

  it("leg 1: the blueprint's token exchange token for its agent (fmi_path) has Entra's claims", async () => {
    const claims = decodeJwt(await t1(agent.clientId));

    expect(claims).toMatchObject({
      aud: TOKEN_EXCHANGE_APP_ID,
      iss: `${authority.url}/${tenant.tenantId}/v2.0`,
      azp: blueprint.clientId,
      azpacr: '1',
      idtyp: 'app',
      oid: blueprint.objectId,
      sub: exchangeSubject(tenant.tenantId, blueprint.clientId, agent.clientId),
      xms_act_fct: '1 9',
    });
    expect(String(claims.sub)).toMatch(
      new RegExp(`^/eid1/c/pub/t/[\\w-]+/a/[\\w-]+/${agent.clientId}$`),
    );
    expect(claims.roles).toBeUndefined();
  });

  it('the subject encodes tenant and blueprint as .NET GUID bytes (base64url)', () => {
    expect(
      exchangeSubject(
        '00112233-4455-6677-8899-aabbccddeeff',
        '00000000-0000-0000-0000-000000000001',
        'x',
      ),
    ).toBe(
      `/eid1/c/pub/t/${Buffer.from('33221100554477668899aabbccddeeff', 'hex').toString('base64url')}/a/${Buffer.from('00000000000000000000000000000001', 'hex').toString('base64url')}/x`,
    );
  });

  it("leg 2: the agent's token (T1 as client assertion) names the agent and its blueprint, and the API accepts it", async () => {
    const token = await leg2(agent.clientId, await t1(agent.clientId));
    const claims = decodeJwt(token);

    expect(claims).toMatchObject({
      azp: agent.clientId,
      appid: agent.clientId,
      oid: agent.objectId,
      sub: agent.objectId,
      idtyp: 'app',
      azpacr: '2',
      xms_par_app_azp: blueprint.clientId,
      roles: ['Data.Read'],
    });
    expect(String(claims.xms_act_fct).split(' ')).toContain('11');
    const api = await http.callApi(authority.apiUrl, token);
    expect(api.status).toBe(200);
    expect(api.json).toMatchObject({
      appid: agent.clientId,
      oid: agent.objectId,
      parentApp: blueprint.clientId,
    });
  });

  it('the token exchange scope without fmi_path: AADSTS82008', async () => {
    const e = await errorOf(t1(undefined));
    expect(e).toMatchObject({ errorCode: 'invalid_request', errorNo: 82008, status: 400 });
  });

  it("an fmi_path that is not one of the blueprint's agents, or of another blueprint: refused", async () => {
    const other = tenant.createAgentBlueprint().createAgentIdentity();
    for (const fmiPath of [other.clientId, '11111111-2222-3333-4444-555555555555']) {
      const e = await errorOf(t1(fmiPath));
      expect(e).toMatchObject({ errorCode: 'invalid_request', errorNo: 9002313 });
    }
    // An ordinary app may not send one at all.
    const app = tenant.createApp();
    const plain = cca(app.clientId, { clientSecret: app.addSecret() });
    const e = await errorOf(
      plain.acquireTokenByClientCredential({
        scopes: [EXCHANGE_SCOPE],
        fmiPath: agent.clientId,
        skipCache: true,
      }),
    );
    expect(e.errorNo).toBe(9002313);
  });

  it("agent A's T1 is not agent B's assertion: AADSTS700213; without any assertion: AADSTS7000216", async () => {
    const b = blueprint.createAgentIdentity();
    const e = await errorOf(leg2(b.clientId, await t1(agent.clientId)));
    expect(e).toMatchObject({ errorCode: 'invalid_client', errorNo: 700213, status: 401 });

    const raw = await http.postForm(`${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`, {
      grant_type: 'client_credentials',
      client_id: agent.clientId,
      scope: authority.apiScope,
    });
    expect(raw.status).toBe(400);
    expect(raw.json.error_codes).toEqual([7000216]);
  });

  it('a T1 of another tenant (a multi-tenant blueprint asked in its home tenant): AADSTS700211', async () => {
    const customer = authority.createTenant();
    const there = customer.createAgentBlueprint({ clientId: blueprint.clientId });
    const remote = there.createAgentIdentity();
    // Asked in the blueprint's home tenant, where that agent does not live: not an agent here.
    expect((await errorOf(t1(remote.clientId))).errorNo).toBe(9002313);
    // A T1 of the home tenant for a home agent, presented by the remote agent in its tenant.
    const e = await errorOf(
      cca(
        remote.clientId,
        { clientAssertion: await t1(agent.clientId) },
        customer.tenantId,
      ).acquireTokenByClientCredential({ scopes: [authority.apiScope], skipCache: true }),
    );
    expect(e.errorNo).toBe(700211);
    // In its own tenant, every leg works.
    const token = (
      await cca(
        remote.clientId,
        { clientAssertion: await t1(remote.clientId, customer.tenantId) },
        customer.tenantId,
      ).acquireTokenByClientCredential({ scopes: [authority.apiScope], skipCache: true })
    )?.accessToken;
    expect(decodeJwt(token!)).toMatchObject({ tid: customer.tenantId, azp: remote.clientId });
  });

  it("an agent identity holds no secret: a client secret of its blueprint's is refused", async () => {
    const e = await errorOf(leg2Secret(agent.clientId, secret));
    expect(e.errorNo).toBe(7000215);
  });

  const leg2Secret = (clientId: string, clientSecret: string) =>
    cca(clientId, { clientSecret }).acquireTokenByClientCredential({
      scopes: [authority.apiScope],
      skipCache: true,
    });

  it('the control API provisions blueprints, agents and agent users for standalone runs', async () => {
    const control = (path: string, json: object = {}) =>
      http.postJson(`${authority.control.url}${path}`, json, {
        'x-control-token': authority.control.token,
      });
    const bp = await control(`/tenants/${tenant.tenantId}/agent-blueprints`);
    expect(bp.status).toBe(201);
    const bpId = (bp.json as { clientId: string }).clientId;
    const bpSecret = (await control(`/tenants/${tenant.tenantId}/apps/${bpId}/secrets`)).json as {
      secret: string;
    };
    const created = await control(`/tenants/${tenant.tenantId}/agent-blueprints/${bpId}/agents`);
    expect(created.status).toBe(201);
    const agentId = (created.json as { clientId: string; blueprintId: string }).clientId;
    expect(created.json).toMatchObject({ blueprintId: bpId });
    const user = await control(`/tenants/${tenant.tenantId}/agents/${agentId}/users`, {
      userPrincipalName: 'controlled@contoso.example',
    });
    expect(user.json).toMatchObject({
      agentId,
      userPrincipalName: 'controlled@contoso.example',
    });
    const exchange = await cca(bpId, {
      clientSecret: bpSecret.secret,
    }).acquireTokenByClientCredential({
      scopes: [EXCHANGE_SCOPE],
      fmiPath: agentId,
      skipCache: true,
    });
    expect(decodeJwt(await leg2(agentId, exchange!.accessToken)).azp).toBe(agentId);
    expect((await control(`/tenants/${tenant.tenantId}/agents/${bpId}/users`)).status).toBe(400);
  });

  describe('agent user (user_fic)', () => {
    it("gets the agent user's delegated token by object id and by UPN; the API sees the user", async () => {
      const user = agent.createAgentUser({ userPrincipalName: 'agent-a@contoso.example' });
      const assertion = await t1(agent.clientId);
      const t2 = await leg2(agent.clientId, assertion, EXCHANGE_SCOPE);
      expect(decodeJwt(t2)).toMatchObject({ aud: TOKEN_EXCHANGE_APP_ID, azp: agent.clientId });
      const app = cca(agent.clientId, { clientAssertion: assertion });

      for (const who of [{ userObjectId: user.objectId }, { username: user.userPrincipalName }]) {
        const result = await app.acquireTokenByUserFederatedIdentityCredential({
          scopes: ['api://dev-api/Data.Read'],
          assertion: t2,
          ...who,
        });
        const claims = decodeJwt(result!.accessToken);
        expect(claims).toMatchObject({
          idtyp: 'user',
          oid: user.objectId,
          azp: agent.clientId,
          scp: 'Data.Read',
          upn: user.userPrincipalName,
          xms_par_app_azp: blueprint.clientId,
        });
        expect(String(claims.xms_sub_fct).split(' ')).toContain('13');
        const api = await http.callApi(authority.apiUrl, result!.accessToken);
        expect(api.json).toMatchObject({ ok: true, oid: user.objectId, idtyp: 'user' });
      }
    });

    it('answers the wrong ways as Entra does: a UPN as user_id or a user of another agent (50000), no such user (50034), .default with another scope (70011), an ungranted scope (65001), T1 as user credential (50013)', async () => {
      const user = blueprint.createAgentIdentity().createAgentUser();
      const assertion = await t1(agent.clientId);
      const t2 = await leg2(agent.clientId, assertion, EXCHANGE_SCOPE);
      const post = (form: Record<string, string>) =>
        http.postForm(`${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`, {
          grant_type: 'user_fic',
          client_id: agent.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
          user_federated_identity_credential: t2,
          scope: 'api://dev-api/Data.Read openid profile offline_access',
          ...form,
        });
      const codes = async (form: Record<string, string>) => {
        const answer = await post(form);
        return [answer.status, (answer.json as { error_codes: number[] }).error_codes[0]];
      };
      expect(await codes({ user_id: 'someone@contoso.example' })).toEqual([400, 50000]);
      // Another agent's user is not linked to this agent; a user of no agent does not exist.
      expect(await codes({ user_id: user.objectId })).toEqual([400, 50000]);
      expect(await codes({ username: 'nobody@contoso.example' })).toEqual([400, 50034]);
      const own = agent.createAgentUser();
      // '.default' asks for every granted scope: never with another one (Entra: 70011).
      expect(
        await codes({
          user_id: own.objectId,
          scope: 'api://dev-api/.default api://dev-api/Data.Read',
        }),
      ).toEqual([400, 70011]);
      expect(await codes({ user_id: own.objectId, scope: 'api://dev-api/Data.Write' })).toEqual([
        400, 65001,
      ]);
      expect(
        await codes({ user_id: own.objectId, user_federated_identity_credential: assertion }),
      ).toEqual([400, 50013]);
      expect((await post({ user_id: own.objectId })).status).toBe(200);
    });
  });
});
