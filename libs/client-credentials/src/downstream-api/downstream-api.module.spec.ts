import { Test } from '@nestjs/testing';
import { ClientCredentialsModule } from '../client-credentials.module';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { DownstreamApiModule, DownstreamApis } from './downstream-api.module';

const credentials = {
  orders: {
    tenantId: '11111111-2222-3333-4444-555555555555',
    clientId: 'orders-app',
    sources: [{ type: 'secret' as const, secret: 'not-a-real-secret' }],
  },
};

type Apis = Parameters<typeof DownstreamApiModule.forRoot>[0]['apis'];

async function init(
  apis: Apis,
  configured: Parameters<typeof ClientCredentialsModule.forRoot>[0]['credentials'] = credentials,
) {
  await start([
    ClientCredentialsModule.forRoot({ credentials: configured, isGlobal: true }),
    DownstreamApiModule.forRoot({ apis }),
  ]);
}

/** Compiles and initialises an app of `imports` (and closes it); resolves to its API names. */
async function start(imports: Parameters<typeof Test.createTestingModule>[0]['imports']) {
  const moduleRef = await Test.createTestingModule({ imports }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
    return app.get(DownstreamApis).names;
  } finally {
    await app.close();
  }
}

const orders = { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' };

describe('DownstreamApiModule', () => {
  it('fails app.init() when an API names a credential the token service does not have', async () => {
    await expect(
      init({
        orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' },
        mail: { baseUrl: 'https://mail.contoso.com', scopes: 'x', credential: 'mail' },
      }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/^Invalid DownstreamApiModule options:/),
      problems: [
        "apis.mail.credential: names no configured credential — use one of 'orders', or leave it out for the default",
      ],
    });
  });

  it('starts when every credential it names is configured', async () => {
    await expect(
      init({
        orders: {
          baseUrl: 'https://orders.contoso.com',
          scopes: 'api://orders/.default',
          credential: 'orders',
        },
      }),
    ).resolves.toBeUndefined();
  });
});

describe('DownstreamApiModule: registrations an app gets wrong fail at start-up, naming the fix', () => {
  const tokens = ClientCredentialsModule.forRoot({ credentials, isGlobal: true });

  it('two forRoot registrations: refused (the app would see one of them only)', async () => {
    const failure = start([
      tokens,
      DownstreamApiModule.forRoot({ apis: { orders } }),
      DownstreamApiModule.forRoot({ apis: { billing: orders } }),
    ]);
    await expect(failure).rejects.toBeInstanceOf(ConfigurationError);
    await expect(failure).rejects.toMatchObject({
      message: expect.stringMatching(/^Invalid DownstreamApiModule options:/),
      problems: [expect.stringMatching(/registered 2 times .*register it once, with every API/)],
    });
  });

  it('forFeature with a name the registration lacks: a ConfigurationError listing the names', async () => {
    const failure = start([
      tokens,
      DownstreamApiModule.forRootAsync({ useFactory: () => ({ apis: { orders } }) }),
      DownstreamApiModule.forFeature('order'),
    ]);
    await expect(failure).rejects.toBeInstanceOf(ConfigurationError);
    await expect(failure).rejects.toMatchObject({
      code: 'options_invalid',
      problems: [
        expect.stringMatching(
          /^forFeature\('order'\): no downstream API named 'order' — configured are 'orders'; list only configured names/,
        ),
      ],
    });
  });

  it('no injectable TokenService (ClientCredentialsModule not global): names isGlobal and imports', async () => {
    const failure = start([
      ClientCredentialsModule.forRoot({ credentials }),
      DownstreamApiModule.forRoot({ apis: { orders } }),
    ]);
    await expect(failure).rejects.toBeInstanceOf(ConfigurationError);
    await expect(failure).rejects.toMatchObject({
      problems: [expect.stringMatching(/isGlobal: true.*imports/)],
    });
  });

  it('one registration starts; get() of an unknown name is api_unknown, listing the names', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [tokens, DownstreamApiModule.forRoot({ apis: { orders } })],
    }).compile();
    const apis = moduleRef.get(DownstreamApis);
    expect(apis.names).toEqual(['orders']);
    expect(() => apis.get('order')).toThrow(
      expect.objectContaining({
        code: 'api_unknown',
        message: expect.stringContaining("No downstream API named 'order': configured are orders"),
      }),
    );
    await moduleRef.close();
  });
});

describe('DownstreamApiModule: scopes and tenants at startup', () => {
  it('fails app.init() naming an API whose scope or tenant no call could use', async () => {
    await expect(
      init({
        noDefault: { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders' },
        meta: {
          baseUrl: 'https://mail.contoso.com',
          scopes: 'api://mail/.default',
          tenantId: 'common',
        },
      }),
    ).rejects.toMatchObject({
      problems: [
        expect.stringMatching(
          /^apis\.noDefault\.scopes: Scopes for credential 'orders' name 'api:\/\/orders'/,
        ),
        expect.stringMatching(/^apis\.meta\.tenantId: Tenant 'common' is a meta-tenant/),
      ],
    });
  });
});

describe('DownstreamApiModule: agents at startup', () => {
  it('fails app.init() naming an API whose agent (or agent user) its credential does not have', async () => {
    const fleet = {
      ...credentials.orders,
      agentBlueprint: { agents: { billing: '99999999-8888-7777-6666-555555555555' } },
    };
    const api = { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' };
    await expect(
      init(
        {
          typo: { ...api, credential: 'fleet', agent: 'biling' },
          notBlueprint: { ...api, credential: 'orders', agent: 'billing' },
          fine: { ...api, credential: 'fleet', agent: 'billing' },
          userAlone: { ...api, credential: 'fleet', agentUser: 'ana@contoso.example' },
          badUser: { ...api, credential: 'fleet', agent: 'billing', agentUser: 'ana' },
          user: {
            ...api,
            scopes: 'https://graph.microsoft.com/Mail.Read',
            credential: 'fleet',
            agent: 'billing',
            agentUser: 'ana@contoso.example',
          },
        },
        { orders: credentials.orders, fleet },
      ),
    ).rejects.toMatchObject({
      problems: [
        expect.stringMatching(
          /^apis\.typo\.agent: Agent "biling" of credential 'fleet' is neither/,
        ),
        expect.stringMatching(/^apis\.notBlueprint\.agent: Credential 'orders' is not an agent/),
        expect.stringMatching(/^apis\.userAlone\.agentUser: An agent user was named without its/),
        expect.stringMatching(/^apis\.badUser\.agentUser: /),
      ],
    });
  });
});
