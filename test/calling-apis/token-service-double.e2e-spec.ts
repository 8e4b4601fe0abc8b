import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TokenEndpointError, TokenService } from '@app/client-credentials';
import { createTokenCredential } from '@app/client-credentials/calling';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
} from '@app/client-credentials/downstream-api';
import {
  ClientCredentialsTestingModule,
  TokenServiceDouble,
} from '@app/client-credentials/testing';
import { useFixtures } from '../support/fixtures';
import { createTestPki, type TestPki } from './recording-server';
import { UploadServer } from './upload-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [server] = useFixtures(() => UploadServer.start(pki));

const CLAIMS = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}';

/**
 * A user's unit test of their own 401 handling: the code under test gets `TokenService` from
 * `ClientCredentialsTestingModule`, i.e. a `TokenServiceDouble`, and calls an API (a local HTTPS
 * server) through the library's integrations. On a 401 the integrations ask the token service for
 * a replacement or a claims token: the double must answer those as it answers `getAccessToken`
 * (scripted tokens, in order) and record them. Before, a 401 became `api_unreachable:
 * tokens.replaceRefusedToken is not a function`.
 */
describe('TokenServiceDouble behind the calling integrations', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** An app whose TokenService is `double`, with a downstream API on the upload server. */
  async function start(double: TokenServiceDouble): Promise<DownstreamApi> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ClientCredentialsTestingModule.forRoot(double, { isGlobal: true }),
        DownstreamApiModule.forRoot({
          apis: {
            uploads: { baseUrl: server.url, scopes: 'api://uploads/.default', ca: pki.caPem },
          },
        }),
      ],
    }).compile();
    app = await moduleRef.init();
    return app.get<DownstreamApi>(getDownstreamApiToken('uploads'));
  }

  /** The API refuses the token `revoked` with `challenge`. */
  function refuse(challenge: string): void {
    server.judgeWith(async (authorization) =>
      authorization === 'Bearer revoked' ? challenge : undefined,
    );
    server.uploads.length = 0;
  }

  it('401 invalid_token: the replacement is the next scripted token, and the call is re-sent', async () => {
    const double = new TokenServiceDouble().willAnswer('revoked', 'fresh');
    const api = await start(double);
    refuse('Bearer error="invalid_token"');

    const result = await api.call('POST', 'upload', { n: 1 });

    expect(result).toMatchObject({ status: 201, body: { stored: 7 }, refused: 'invalid_token' });
    expect(server.uploads.map((u) => [u.authorization, u.status])).toEqual([
      ['Bearer revoked', 401],
      ['Bearer fresh', 201],
    ]);
    expect(double.calls.map((c) => [c.kind, c.outcome])).toEqual([
      ['token', { token: 'revoked' }],
      ['replace', { token: 'fresh' }],
    ]);
    expect(double.calls[1]).toMatchObject({
      refused: 'revoked',
      scopes: ['api://uploads/.default'],
    });
  });

  it('401 insufficient_claims: the refused token is forgotten and a claims token asked for', async () => {
    const double = new TokenServiceDouble().willAnswer('revoked', 'with-claims');
    const api = await start(double);
    refuse(
      `Bearer error="insufficient_claims", claims="${Buffer.from(CLAIMS).toString('base64')}"`,
    );

    const result = await api.call('POST', 'upload', { n: 1 });

    expect(result).toMatchObject({ status: 201, refused: 'insufficient_claims' });
    expect(double.calls.map((c) => c.kind)).toEqual(['token', 'forget', 'claims']);
    expect(double.calls[1]).toMatchObject({ refused: 'revoked', outcome: { none: true } });
    expect(double.calls[2]).toMatchObject({ claims: CLAIMS, outcome: { token: 'with-claims' } });
  });

  it('no new token (the fixed token is the refused one): the caller gets the 401 as api_unauthorized', async () => {
    const double = new TokenServiceDouble().willAnswer('revoked');
    const api = await start(double);
    refuse('Bearer error="invalid_token"');
    // Nothing more scripted, and the fixed token is the refused one: no new token can help.
    double.willAlwaysAnswer('revoked');

    await expect(api.post('upload', { n: 1 })).rejects.toMatchObject({
      code: 'api_unauthorized',
      status: 401,
    });
    expect(double.calls.map((c) => [c.kind, c.outcome])).toEqual([
      ['token', { token: 'revoked' }],
      ['replace', { none: true }],
    ]);
  });

  it('a scripted failure of the replacement reaches the caller as in production', async () => {
    const down = new TokenEndpointError('endpoint_unavailable', 'The authority is down.', {}, true);
    const double = new TokenServiceDouble().willAnswer('revoked', down);
    const api = await start(double);
    refuse('Bearer error="invalid_token"');

    await expect(api.post('upload', { n: 1 })).rejects.toBe(down);
    expect(server.uploads).toHaveLength(1);
  });

  it("TokenCredential: a tenant and claims an SDK asks for, against the double's tenant", async () => {
    const double = new TokenServiceDouble({ tenantId: 'home-tenant' }).willAnswer('t1', 't2');
    await start(double);
    const credential = createTokenCredential(app!.get(TokenService), {
      additionallyAllowedTenants: ['customer.example'],
    });

    await expect(
      credential.getToken('api://a/.default', { tenantId: 'HOME-TENANT' }),
    ).resolves.toMatchObject({ token: 't1' });
    await expect(
      credential.getToken('api://a/.default', { tenantId: 'customer.example', claims: CLAIMS }),
    ).resolves.toMatchObject({ token: 't2' });
    await expect(
      credential.getToken('api://a/.default', { tenantId: 'stranger.example' }),
    ).rejects.toMatchObject({ code: 'tenant_not_allowed' });

    expect(double.calls.map((c) => [c.kind, c.tenantId, c.claims])).toEqual([
      ['token', undefined, undefined],
      ['claims', 'customer.example', CLAIMS],
    ]);
  });
});
