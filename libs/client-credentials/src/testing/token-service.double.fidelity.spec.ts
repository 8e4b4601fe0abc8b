// The double refuses what the real service refuses, and emits its events as the real service
// does, in real Nest testing modules. Health over the double: test/testing-kit/.
import { type DynamicModule, Injectable, Module } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsModule,
  TokenRequestRejectedError,
  TokenService,
  type ClientCredentialsEvent,
  type TokenFailureEvent,
} from '@app/client-credentials';
import {
  ClientCredentialsTestingModule,
  TokenServiceDouble,
} from '@app/client-credentials/testing';

const API = 'api://orders/.default';
const AGENT = '6c1e3b52-0d0e-4a7f-9a51-0f0c8c1e2d11';

describe('TokenServiceDouble refuses what TokenService refuses before any network call', () => {
  it.each([
    ['an empty scope', '', {}, 'scope_invalid'],
    ['a scope that is not <resource>/.default', 'User.Read', {}, 'scope_invalid'],
    ['a delegated scope', 'https://graph.microsoft.com/User.Read', {}, 'scope_invalid'],
    ['two resources', ['api://a/.default', 'api://b/.default'], {}, 'scope_invalid'],
    ['a meta-tenant', API, { tenantId: 'common' }, 'tenant_invalid'],
    ['a tenant that is a path', API, { tenantId: '../x' }, 'tenant_invalid'],
    ['an agent user without its agent', API, { agentUser: 'ana@contoso.com' }, 'agent_unsupported'],
    ['an agent of a credential that is no blueprint', API, { agent: AGENT }, 'agent_unsupported'],
    ['an unknown credential', API, { credential: 'billing' }, 'credential_unknown'],
  ] as const)('%s: %s', async (_, scopes, options, code) => {
    const tokens = new TokenServiceDouble({ credentials: ['orders'] }).willAnswer('scripted');

    expect(() => tokens.checkRequest(scopes, options)).toThrow(expect.objectContaining({ code }));
    await expect(tokens.getAccessToken(scopes, options)).rejects.toMatchObject({
      name: 'InvalidRequestError',
      code,
    });
    // Before the script: the next call still gets the scripted token.
    await expect(tokens.getAccessToken(API)).resolves.toMatchObject({ token: 'scripted' });
    expect(tokens.calls.map((c) => c.outcome)).toEqual([{ error: code }, { token: 'scripted' }]);
    // Refused before the network: no token request, no last error.
    expect(tokens.getStats()).toMatchObject({ tokenRequests: 1, failures: {} });
    expect(tokens.getStats().lastError).toBeUndefined();
  });

  it('with the real messages', async () => {
    const tokens = new TokenServiceDouble({ credentials: ['orders', 'billing'] });
    await expect(tokens.getAccessToken(API)).rejects.toThrow(
      'No credential named and no default credential: name one of orders, billing.',
    );
    await expect(tokens.getAccessToken(API, { credential: 'x' })).rejects.toThrow(
      "Unknown credential 'x': configured are orders, billing.",
    );
    await expect(
      tokens.getAccessToken(API, { credential: 'orders', tenantId: 'common' }),
    ).rejects.toThrow("Tenant 'common' is a meta-tenant");
  });

  it('serves an unnamed call from the only credential, as the real module chooses its default', async () => {
    const tokens = new TokenServiceDouble({ credentials: ['orders'] });

    await expect(tokens.getAccessToken(API)).resolves.toMatchObject({ credential: 'orders' });
    expect(tokens.getStats().credential).toBe('orders');
    expect(tokens.credentialNames).toEqual(['orders']);
  });

  it('takes agents of the credentials named blueprints (agentBlueprints), delegated scopes for an agent user', async () => {
    const tokens = new TokenServiceDouble({
      credentials: ['orders', 'agents'],
      defaultCredential: 'orders',
      agentBlueprints: ['agents'],
    });

    await expect(
      tokens.getAccessToken(API, { credential: 'agents', agent: AGENT }),
    ).resolves.toBeDefined();
    await expect(
      tokens.getAccessToken('https://graph.microsoft.com/User.Read', {
        credential: 'agents',
        agent: AGENT,
        agentUser: 'ana@contoso.com',
      }),
    ).resolves.toBeDefined();
    await expect(tokens.getAccessToken(API, { agent: AGENT })).rejects.toThrow(
      "Credential 'orders' is not an agent identity blueprint",
    );
  });

  it("keeps a scripted refusal of an agent user under the user's request, as the real service: the agent stays working", async () => {
    const tokens = new TokenServiceDouble({ credentials: ['agents'], agentBlueprints: ['agents'] });
    const noSuchUser = Object.assign(
      new TokenRequestRejectedError('request_rejected', 'AADSTS50034: no such user.', {}),
      { aadsts: 50034 },
    );
    tokens.willAnswer('agent-token', noSuchUser);
    const as = { agent: AGENT, agentUser: 'Nobody@contoso.com' };

    await tokens.getAccessToken(API, { agent: AGENT });
    await expect(tokens.getAccessToken('api://orders/Read', as)).rejects.toBe(noSuchUser);

    const agent = tokens.getStats().agents![AGENT];
    expect(agent).toMatchObject({ lastOutcome: 'success' });
    expect(agent.scopes).toMatchObject({
      [API]: { lastOutcome: 'success' },
      'user=nobody@contoso.com api://orders/Read': { lastError: { aadsts: 50034 } },
    });
  });

  it('an OIDC issuer (protocol: oidc) takes any scope tokens', async () => {
    const tokens = new TokenServiceDouble({ protocol: 'oidc' });
    await expect(tokens.getAccessToken(['orders.read', 'orders.write'])).resolves.toBeDefined();
    await expect(tokens.getAccessToken('has space')).rejects.toMatchObject({
      code: 'scope_invalid',
    });
  });

  it('refuses options naming what it does not know, at construction', () => {
    expect(() => new TokenServiceDouble({ credentials: ['a'], defaultCredential: 'b' })).toThrow(
      "defaultCredential: 'b' is not one of credentials",
    );
    expect(() => new TokenServiceDouble({ agentBlueprints: ['agents'] })).toThrow(
      "agentBlueprints: 'agents' is not a credential of the double",
    );
  });
});

@Injectable()
class OrdersClient {
  constructor(readonly tokens: TokenService) {}
}

/** A feature module that injects TokenService without importing the module providing it. */
@Module({ providers: [OrdersClient] })
class OrdersModule {}

describe('ClientCredentialsTestingModule is registered as ClientCredentialsModule (isGlobal)', () => {
  const real = (isGlobal?: boolean) =>
    ClientCredentialsModule.forRoot({
      isGlobal,
      credentials: {
        orders: {
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          clientId: '6c1e3b52-0d0e-4a7f-9a51-0f0c8c1e2d12',
          sources: [{ type: 'secret', secret: 'not-used' }],
        },
      },
    });
  const compile = (module: DynamicModule) =>
    Test.createTestingModule({ imports: [module, OrdersModule] }).compile();

  it('not global by default: a module that does not import it cannot inject TokenService, as with the real module', async () => {
    await expect(compile(real())).rejects.toThrow(/OrdersClient/);
    await expect(compile(ClientCredentialsTestingModule.forRoot())).rejects.toThrow(/OrdersClient/);
  });

  it('isGlobal: true — every module gets the double', async () => {
    await expect(compile(real(true))).resolves.toBeDefined();
    const double = new TokenServiceDouble();
    const moduleRef = await compile(
      ClientCredentialsTestingModule.forRoot(double, { isGlobal: true }),
    );
    expect(moduleRef.get(OrdersClient).tokens).toBe(double);
  });
});

@Injectable()
class FailureListener {
  readonly heard: ClientCredentialsEvent[] = [];
  @OnEvent('client-credentials.failure')
  onFailure(event: TokenFailureEvent): void {
    this.heard.push(event);
  }
}

describe('the double emits its events as TokenService does', () => {
  const failure: TokenFailureEvent = {
    type: 'failure',
    credential: 'default',
    tenantId: 'test-tenant',
    scopes: [API],
    at: new Date(),
    error: { code: 'endpoint_unavailable', message: 'down', transient: true },
  };

  it('to @OnEvent handlers and subscribers, frozen; completed when the module closes', async () => {
    const double = new TokenServiceDouble();
    const moduleRef = await Test.createTestingModule({
      imports: [EventEmitterModule.forRoot(), ClientCredentialsTestingModule.forRoot(double)],
      providers: [FailureListener],
    }).compile();
    await moduleRef.init();
    const seen: ClientCredentialsEvent[] = [];
    let completed = false;
    double.events.subscribe({ next: (e) => seen.push(e), complete: () => (completed = true) });

    double.emit({ ...failure });

    const heard = moduleRef.get(FailureListener).heard;
    expect(heard).toEqual([expect.objectContaining({ type: 'failure' })]);
    expect(seen).toEqual(heard);
    expect(Object.isFrozen(seen[0])).toBe(true);
    await moduleRef.close();
    expect(completed).toBe(true);
  });

  it('a double outlives its modules: the next module gets the events afresh', async () => {
    const double = new TokenServiceDouble();
    for (let i = 0; i < 2; i++) {
      const moduleRef = await Test.createTestingModule({
        imports: [ClientCredentialsTestingModule.forRoot(double)],
      }).compile();
      await moduleRef.init();
      const seen: ClientCredentialsEvent[] = [];
      double.events.subscribe((e) => seen.push(e));
      double.emit({ ...failure });
      expect(seen).toHaveLength(1);
      await moduleRef.close();
    }
  });

  it('without a module, emit still reaches the subscribers', () => {
    const double = new TokenServiceDouble();
    const seen: ClientCredentialsEvent[] = [];
    double.events.subscribe((e) => seen.push(e));
    double.emit({ ...failure });
    expect(seen).toHaveLength(1);
  });
});
