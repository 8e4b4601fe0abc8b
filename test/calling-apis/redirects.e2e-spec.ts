import type { INestApplicationContext } from '@nestjs/common';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { TokenService } from '@app/client-credentials';
import {
  createAuthenticatedFetch,
  DownstreamApiError,
  type FetchFunction,
} from '@app/client-credentials/calling';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
} from '@app/client-credentials/downstream-api';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp } from '../support/token-app';
import { createTestPki, RecordingServer, type TestPki } from './recording-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, api] = useFixtures(startDevAuthority, () => RecordingServer.start(pki));

/**
 * A redirect the authenticated fetch does not follow rejects as fetch itself does — a TypeError
 * 'fetch failed' (undici: cause 'redirect count exceeded' / 'unexpected redirect'), which callers
 * test for — and its `cause` says which, with a stable code. Counted at a server that redirects
 * to itself for ever.
 */
describe('authenticated fetch: redirects not followed', () => {
  let app: INestApplicationContext;
  let dispatcher: Agent;
  let ca: string[];

  beforeAll(async () => {
    ca = [authority.caPem, pki.caPem];
    dispatcher = new Agent({ connect: { ca } });
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    ({ app } = await startTokenApp(
      {
        isGlobal: true,
        credentials: {
          main: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
      },
      [
        DownstreamApiModule.forRoot({
          apis: { loop: { baseUrl: api.url, scopes: authority.apiScope, ca } },
        }),
      ],
    ));
  });
  afterAll(() => releaseAll(app, dispatcher));
  beforeEach(() => {
    api.requests.length = 0;
  });

  function authenticatedFetch(maxRedirects?: number) {
    return createAuthenticatedFetch(app.get(TokenService), {
      baseUrl: api.url,
      scopes: authority.apiScope,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
      maxRedirects,
    });
  }

  /** What fetch itself rejects with for a redirect loop: our fetch must keep that contract. */
  async function fetchOwnFailure(): Promise<unknown> {
    return undiciFetch(`${api.url}/loop`, { dispatcher }).then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  it('more than maxRedirects: TypeError "fetch failed", its cause redirect_refused', async () => {
    const own = await fetchOwnFailure();
    expect(own).toBeInstanceOf(TypeError);
    api.requests.length = 0;

    const failure = await authenticatedFetch(3)('loop').then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).message).toBe((own as TypeError).message);
    const cause = (failure as TypeError).cause;
    expect(cause).toBeInstanceOf(DownstreamApiError);
    expect(cause).toMatchObject({
      code: 'redirect_refused',
      method: 'GET',
      path: '/loop',
      status: 302,
      message: expect.stringContaining('more than 3 redirects (maxRedirects)'),
    });
    // The first request and 3 redirects followed, each on the API's origin, with its token.
    expect(api.requests).toHaveLength(4);
    expect(api.requests.every((r) => r.authorization?.startsWith('Bearer ey'))).toBe(true);
  });

  it("redirect: 'error': the same contract, after one request", async () => {
    const failure = await authenticatedFetch()('loop', { redirect: 'error' }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).message).toBe('fetch failed');
    expect((failure as TypeError).cause).toMatchObject({
      code: 'redirect_refused',
      message: expect.stringContaining("redirect: 'error'"),
    });
    expect(api.requests).toHaveLength(1);
  });

  it('a downstream API reports it as redirect_refused (default: 5 redirects)', async () => {
    const loop = app.get<DownstreamApi>(getDownstreamApiToken('loop'));

    const call = loop.get('loop');
    await expect(call).rejects.toBeInstanceOf(DownstreamApiError);
    await expect(call).rejects.toMatchObject({
      code: 'redirect_refused',
      api: 'loop',
      path: 'loop',
      status: 302,
    });
    expect(api.requests).toHaveLength(6);
  });
});
