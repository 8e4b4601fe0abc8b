import { Test } from '@nestjs/testing';
import { HealthIndicatorService } from '@nestjs/terminus';
import { lastValueFrom } from 'rxjs';
import {
  ClientCredentialsModule,
  TokenService,
  type ClientCredentialsError,
} from '@app/client-credentials';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import { startDevAuthority } from '@app/dev-authority';
import { CapturingLogger } from '../support/capturing-logger';
import { useFixtures } from '../support/fixtures';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';
import { eventually } from '../support/waiting';

type ForRootOptions = Parameters<typeof ClientCredentialsModule.forRoot>[0];

/** What `app.init()` fails with (an init that succeeds fails the test); the app is closed. */
async function initFailure(options: ForRootOptions): Promise<ClientCredentialsError> {
  const moduleRef = await Test.createTestingModule({
    imports: [ClientCredentialsModule.forRoot({ logger: new CapturingLogger(), ...options })],
  }).compile();
  try {
    await moduleRef.init();
  } catch (e) {
    return e as ClientCredentialsError;
  } finally {
    await moduleRef.close();
  }
  throw new Error('expected app.init() to fail');
}

const [authority] = useFixtures(startDevAuthority);

/**
 * The warm-up (`warmUp` option) against the local authority through msal: the declared tokens are
 * obtained once each, before `app.init()` returns or in the background with readiness down until
 * then; a managed identity endpoint that refuses connections for a while (a container starting) is
 * waited for within `warmUp.timeoutMs`. Counted at the authority, never timed.
 */
describe('Warm-up', () => {
  let app: TokenApp | undefined;
  const env = { ...process.env };

  beforeAll(() => {
    // msal-node picks its managed identity source once per process: App Service, for this file.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterEach(async () => {
    authority.faults.clear();
    await app?.close();
    app = undefined;
  });
  afterAll(() => {
    process.env = env;
  });

  /** A multi-tenant app of a fresh home tenant, consented in one more tenant. */
  function multiTenantApp() {
    const home = authority.createTenant();
    const customer = authority.createTenant();
    const reg = home.createApp();
    customer.createApp({ clientId: reg.clientId });
    return { home, customer, reg, secret: reg.addSecret() };
  }

  it("wait 'init': app.init() returns with exactly the declared tokens, each obtained once", async () => {
    const { home, customer, reg, secret } = multiTenantApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
      },
      warmUp: {
        tokens: [
          { scopes: authority.apiScope, tenants: [home.tenantId, customer.tenantId] },
          { credential: 'api', scopes: [authority.apiScope] },
        ],
      },
    });

    // Three declared, two distinct: the home tenant's token is one token, asked for once.
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    expect(
      authority.countTokenRequests({ clientId: reg.clientId, tenantId: customer.tenantId }),
    ).toBe(1);
    expect(app.tokens.getWarmUpStatus()).toMatchObject({
      state: 'completed',
      declared: 3,
      obtained: 3,
      credentials: { api: { declared: 3, obtained: 3, failed: 0 } },
      failures: [],
    });
    // The first calls are cache hits.
    const first = await app.tokens.getAccessToken(authority.apiScope);
    const other = await app.tokens.getAccessToken(authority.apiScope, {
      tenantId: customer.tenantId,
    });
    expect([first.source, other.source]).toEqual(['cache', 'cache']);
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);
    expect(app.logger.text).toContain('Warm-up: 3 token(s) obtained');
  });

  it("an agent blueprint's declared agents: both legs of each agent's token, once", async () => {
    const tenant = authority.createTenant();
    const blueprint = tenant.createAgentBlueprint();
    const agents = [1, 2].map((i) => blueprint.createAgentIdentity({ displayName: `agent ${i}` }));
    app = await startTokenApp({
      credentials: {
        fleet: {
          ...localCredential(authority, tenant.tenantId, blueprint.clientId, [
            { type: 'secret', secret: blueprint.addSecret() },
          ]),
          agentBlueprint: { agents: { billing: agents[0].clientId } },
        },
      },
      warmUp: { tokens: [{ scopes: authority.apiScope, agents: ['billing', agents[1].clientId] }] },
    });

    const exchange = 'api://AzureADTokenExchange/.default';
    expect(authority.countTokenRequests({ clientId: blueprint.clientId, scope: exchange })).toBe(2);
    for (const agent of agents)
      expect(authority.countTokenRequests({ clientId: agent.clientId })).toBe(1);
    const billing = await app.tokens.getAccessToken(authority.apiScope, { agent: 'billing' });
    expect(billing.source).toBe('cache');
    expect(app.tokens.getWarmUpStatus()).toMatchObject({ state: 'completed', obtained: 2 });
  });

  it("wait 'background': readiness is down until the tokens are obtained, then up", async () => {
    const { home, reg, secret } = multiTenantApp();
    // The authority is slow at first: the app is up before its token is.
    authority.faults.add({ tenantId: home.tenantId, kind: 'latency', latencyMs: 4000, times: 1 });
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
      },
      warmUp: { tokens: [{ scopes: authority.apiScope }], wait: 'background' },
    });
    const health = new ClientCredentialsHealthIndicator(app.tokens, new HealthIndicatorService());
    const ready = () => health.isHealthy('credentials');

    expect(app.tokens.getWarmUpStatus()?.state).toBe('pending');
    expect(ready().credentials).toMatchObject({
      status: 'down',
      credentials: {
        api: {
          status: 'down',
          reason: expect.stringContaining('warming up (0 of 1 tokens obtained)') as string,
        },
      },
    });
    // Liveness does not wait for the warm-up.
    expect(health.isHealthy('live', { requireToken: false }).live.status).toBe('up');

    await eventually(() => app!.tokens.getWarmUpStatus()?.state === 'completed');
    expect(ready().credentials).toMatchObject({
      status: 'up',
      credentials: { api: { status: 'up', warmUp: { declared: 1, obtained: 1, failed: 0 } } },
    });
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
  });

  it("wait 'background': a token given up on at timeoutMs is asked for again until the authority recovers", async () => {
    const { home, reg, secret } = multiTenantApp();
    // An outage longer than timeoutMs: every request of the tenant answers 503.
    authority.faults.add({ tenantId: home.tenantId, kind: 'status', status: 503 });
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
      },
      retry: { initialDelayMs: 100, maxDelayMs: 400 },
      warmUp: { tokens: [{ scopes: authority.apiScope }], wait: 'background', timeoutMs: 1500 },
    });
    const health = new ClientCredentialsHealthIndicator(app.tokens, new HealthIndicatorService());
    const asked = (outcome: 'ok' | 'fault') =>
      authority.countTokenRequests({ clientId: reg.clientId, outcome });

    await eventually(() => app!.tokens.getWarmUpStatus()?.state === 'failed');
    expect(app.tokens.getWarmUpStatus()?.failures).toMatchObject([
      { credential: 'api', error: { code: 'endpoint_unavailable' } },
    ]);
    expect(health.isHealthy('ready').ready.status).toBe('down');
    // Still asked for after the warm-up was reported failed: nothing else would ask.
    const atReport = asked('fault');
    await eventually(() => asked('fault') > atReport);

    authority.faults.clear();
    await eventually(() => app!.tokens.getWarmUpStatus()?.state === 'completed');
    expect(app.tokens.getWarmUpStatus()).toMatchObject({ obtained: 1, failures: [] });
    expect(asked('ok')).toBe(1);
    expect(health.isHealthy('ready').ready).toMatchObject({
      status: 'up',
      credentials: { api: { status: 'up', warmUp: { declared: 1, obtained: 1, failed: 0 } } },
    });
    expect((await app.tokens.getAccessToken(authority.apiScope)).source).toBe('cache');
    expect(app.logger.text).toContain('obtained its token after the warm-up was reported failed');
  });

  it('waits for a managed identity endpoint that refuses connections at first, within the bound', async () => {
    const tenantId = authority.createTenant().tenantId;
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    // The endpoint resets the first three connections, as one that is still starting.
    authority.faults.add({ target: 'managed-identity', kind: 'reset', times: 3 });
    app = await startTokenApp({
      credentials: { mi: localManagedIdentity(authority, { clientId: mi.clientId }) },
      retry: { initialDelayMs: 100, maxDelayMs: 400 },
      warmUp: { tokens: [{ scopes: authority.apiScope }], timeoutMs: 30_000 },
    });

    const asked = (outcome: 'ok' | 'fault') =>
      authority.countTokenRequests({ target: 'managed-identity', clientId: mi.clientId, outcome });
    expect([asked('fault'), asked('ok')]).toEqual([3, 1]);
    expect(app.tokens.getWarmUpStatus()).toMatchObject({ state: 'completed', obtained: 1 });
    expect((await app.tokens.getAccessToken(authority.apiScope)).source).toBe('cache');
    expect(asked('ok')).toBe(1);
  });

  it('gives up at warmUp.timeoutMs on an endpoint that never answers: app.init() fails, naming why', async () => {
    const tenantId = authority.createTenant().tenantId;
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    authority.faults.add({ target: 'managed-identity', kind: 'reset' });
    const error = await initFailure({
      credentials: { mi: localManagedIdentity(authority, { clientId: mi.clientId }) },
      retry: { initialDelayMs: 100, maxDelayMs: 400 },
      warmUp: { tokens: [{ scopes: authority.apiScope }], timeoutMs: 1500 },
    });

    expect(error).toMatchObject({ code: 'warm_up_failed', credential: 'mi', transient: false });
    expect(error.message).toContain('1 of 1 token(s) not obtained');
    expect(error.message).toContain('source_unavailable');
    expect(error.message).toContain('no managed identity endpoint answers');
    expect(error.hint).toContain('warmUp.timeoutMs');
    // Retried within the bound, and no more: a request every few hundred ms at most.
    const tries = authority.countTokenRequests({
      target: 'managed-identity',
      clientId: mi.clientId,
    });
    expect(tries).toBeGreaterThan(1);
    expect(tries).toBeLessThan(20);
  });

  it('a failure no retry helps ends the warm-up at once; a wrong declaration fails like an option', async () => {
    const { home, reg } = multiTenantApp();
    const rejected = await initFailure({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong-secret-value' },
        ]),
      },
      warmUp: { tokens: [{ scopes: authority.apiScope }] },
    });
    expect(rejected).toMatchObject({ code: 'warm_up_failed' });
    expect(rejected.message).toContain('credential_rejected');
    expect(rejected.message).not.toContain('wrong-secret-value');
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);

    const badWait = await initFailure({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong-secret-value' },
        ]),
      },
      warmUp: { tokens: [{ scopes: authority.apiScope }], wait: 'later' as 'init' },
    });
    expect(badWait).toMatchObject({ code: 'options_invalid' });
    expect(badWait.message).toContain("warmUp.wait: must be 'init' or 'background'");

    const unknown = await initFailure({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [
          { type: 'secret', secret: 'wrong-secret-value' },
        ]),
      },
      warmUp: {
        tokens: [
          { credential: 'nope', scopes: authority.apiScope },
          { scopes: authority.apiScope, tenants: ['common'] },
        ],
      },
    });
    expect(unknown).toMatchObject({ code: 'options_invalid' });
    expect(unknown.message).toMatch(/warmUp\.tokens\[0\]: .*'nope'/);
    expect(unknown.message).toMatch(/warmUp\.tokens\[1\]: .*common/);
    // Checked before any request.
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
  });

  it('a failed init leaves nothing running: the service is shut down before app.init() rejects', async () => {
    const { home, reg } = multiTenantApp();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRoot({
          logger: new CapturingLogger(),
          credentials: {
            api: localCredential(authority, home.tenantId, reg.clientId, [
              { type: 'secret', secret: 'wrong-secret-value' },
            ]),
          },
          warmUp: { tokens: [{ scopes: authority.apiScope }] },
        }),
      ],
    }).compile();
    const tokens = moduleRef.get(TokenService);

    // Nest runs no shutdown hook after a failed init; an app's bootstrap().catch(log) ends here.
    await expect(moduleRef.init()).rejects.toMatchObject({ code: 'warm_up_failed' });

    // Its events completed (a subscription now ends at once), and it takes no more calls.
    await expect(lastValueFrom(tokens.events, { defaultValue: 'completed' })).resolves.toBe(
      'completed',
    );
    await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'shutdown',
    });
    expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(1);
    await moduleRef.close();
  });
});
