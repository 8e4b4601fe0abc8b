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
const [authority, api, other] = useFixtures(
  startDevAuthority,
  () => RecordingServer.start(pki),
  () => RecordingServer.start(pki),
);

/**
 * A redirect the authenticated fetch does not follow rejects as fetch itself does — a TypeError
 * 'fetch failed' (undici: cause 'redirect count exceeded' / 'unexpected redirect'), which callers
 * test for — and its `cause` says which, with a stable code. Counted at a server that redirects
 * to itself for ever.
 */
describe('authenticated fetch: redirects', () => {
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
    other.requests.length = 0;
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

  /**
   * The wrapper follows redirects itself (`redirect: 'manual'`), so fetch's own stripping never
   * runs: it applies fetch's rules, as the axios path does (one rule, `droppedOnRedirect`).
   */
  describe("the caller's headers across redirects, as fetch carries them", () => {
    const credentials = {
      Cookie: 'session=SECRET-SESSION',
      'Proxy-Authorization': 'Basic c2VjcmV0',
    };
    const away = () =>
      `redirect?to=${encodeURIComponent(
        `${other.url}/redirect?to=${encodeURIComponent(`${api.url}/back`)}`,
      )}`;

    it("another origin gets none of the API's credentials, nor does the API after it", async () => {
      const res = await authenticatedFetch()(away(), { headers: credentials });

      expect(res.status).toBe(200);
      expect(api.requests[0]).toMatchObject({
        cookie: 'session=SECRET-SESSION',
        proxyAuthorization: 'Basic c2VjcmV0',
      });
      expect(other.requests).toEqual([
        expect.objectContaining({
          path: '/redirect',
          authorization: undefined,
          cookie: undefined,
          proxyAuthorization: undefined,
        }),
      ]);
      // Back on the API's origin: what was dropped stays dropped (fetch), the token included.
      expect(api.requests[1]).toMatchObject({
        path: '/back',
        authorization: undefined,
        cookie: undefined,
        proxyAuthorization: undefined,
      });
    });

    it("a downstream API's headers: the same", async () => {
      const loop = app.get<DownstreamApi>(getDownstreamApiToken('loop'));

      await expect(loop.get(away(), { headers: credentials })).resolves.toMatchObject({
        ok: true,
      });
      expect(api.requests[0].cookie).toBe('session=SECRET-SESSION');
      expect(other.requests[0]).toMatchObject({ cookie: undefined, proxyAuthorization: undefined });
    });

    it("a 303 turns a POST into a GET without the body's headers, keeping the origin's", async () => {
      const to = encodeURIComponent(`${api.url}/created`);
      const res = await authenticatedFetch()(`redirect?status=303&to=${to}`, {
        method: 'POST',
        body: '{"a":1}',
        headers: {
          ...credentials,
          'Content-Type': 'application/json',
          'Content-Encoding': 'identity',
          'Content-Language': 'en',
          'Content-Location': '/drafts/1',
        },
      });

      expect(res.status).toBe(200);
      expect(api.requests[0]).toMatchObject({
        method: 'POST',
        contentType: 'application/json',
        contentEncoding: 'identity',
        contentLanguage: 'en',
        contentLocation: '/drafts/1',
      });
      expect(api.requests[1]).toEqual({
        method: 'GET',
        path: '/created',
        authorization: expect.stringMatching(/^Bearer ey/),
        cookie: 'session=SECRET-SESSION',
        proxyAuthorization: 'Basic c2VjcmV0',
      });
    });
  });
});
