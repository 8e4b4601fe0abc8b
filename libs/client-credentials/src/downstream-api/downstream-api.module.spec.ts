import { Test } from '@nestjs/testing';
import { ClientCredentialsModule } from '../client-credentials.module';
import { DownstreamApiModule } from './downstream-api.module';

const credentials = {
  orders: {
    tenantId: '11111111-2222-3333-4444-555555555555',
    clientId: 'orders-app',
    sources: [{ type: 'secret' as const, secret: 'not-a-real-secret' }],
  },
};

async function init(
  apis: Parameters<typeof DownstreamApiModule.forRoot>[0]['apis'],
  configured: Parameters<typeof ClientCredentialsModule.forRoot>[0]['credentials'] = credentials,
) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({ credentials: configured, isGlobal: true }),
      DownstreamApiModule.forRoot({ apis }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

describe('DownstreamApiModule', () => {
  it('fails app.init() when an API names a credential the token service does not have', async () => {
    await expect(
      init({
        orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' },
        mail: { baseUrl: 'https://mail.contoso.com', scopes: 'x', credential: 'mail' },
      }),
    ).rejects.toMatchObject({
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
  it('fails app.init() naming an API whose agent its credential does not have', async () => {
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
        },
        { orders: credentials.orders, fleet },
      ),
    ).rejects.toMatchObject({
      problems: [
        expect.stringMatching(
          /^apis\.typo\.agent: Agent "biling" of credential 'fleet' is neither/,
        ),
        expect.stringMatching(/^apis\.notBlueprint\.agent: Credential 'orders' is not an agent/),
      ],
    });
  });
});
