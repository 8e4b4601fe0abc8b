import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { ConfigurationError, TokenService } from '@app/client-credentials';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { DownstreamApi } from '@app/client-credentials/downstream-api';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { revokeTokens } from './control';
import { createTestPki, type TestPki } from './recording-server';
import { authorityJudge } from './upload-server';

/**
 * An upload API on 127.0.0.1: `/upload` answers 307 to `/stored`, which stores what it got;
 * `POST /orders` creates an order (after `onOrder`, where a test revokes the token) and answers
 * 303 to `/orders/<n>`, whose GET the local authority's judge answers — 401 with its challenge, or
 * the order.
 */
class UploadApi {
  url = '';
  onOrder: () => Promise<unknown> = async () => undefined;
  judge: (authorization: string | undefined) => Promise<string | undefined> = async () => undefined;
  private constructor(
    private readonly server: Server,
    readonly received: { method: string; path: string; bytes: number; status?: number }[],
  ) {}

  static async start(pki: TestPki): Promise<UploadApi> {
    const received: UploadApi['received'] = [];
    let orders = 0;
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.on('end', () => {
          const seen = { method: req.method ?? '', path: req.url ?? '', bytes };
          received.push(seen);
          const answer = (status: number, headers: Record<string, string>, body?: string) => {
            Object.assign(seen, { status });
            res.writeHead(status, headers);
            res.end(body);
          };
          if (req.method === 'POST' && req.url === '/orders') {
            const order = ++orders;
            void api.onOrder().then(() => answer(303, { location: `/orders/${order}` }));
          } else if (req.url?.startsWith('/orders/')) {
            void api
              .judge(req.headers.authorization)
              .then((challenge) =>
                challenge === undefined
                  ? answer(
                      200,
                      { 'content-type': 'application/json' },
                      `{"order":${req.url!.slice(8)}}`,
                    )
                  : answer(401, { 'www-authenticate': challenge }),
              );
          } else if (req.url === '/upload') {
            res.writeHead(307, { location: '/stored' });
            res.end();
          } else {
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ stored: bytes }));
          }
        });
      },
    );
    const api = new UploadApi(server, received);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return api;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, api] = useFixtures(startDevAuthority, () => UploadApi.start(pki));

/** A body fetch can send once only: an async iterable (a stream, in fetch's terms). */
const stream = () =>
  (async function* () {
    yield Buffer.alloc(50_000, 1);
    yield Buffer.alloc(50_000, 2);
  })();

describe('authenticated fetch: redirects and bodies', () => {
  let app: TokenApp;
  let dispatcher: Agent;

  beforeAll(async () => {
    dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        main: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
  });
  afterAll(() => releaseAll(app, dispatcher));
  beforeEach(() => {
    api.received.length = 0;
  });

  const fetchFor = (maxRedirects?: number) =>
    createAuthenticatedFetch(app.app.get(TokenService), {
      baseUrl: api.url,
      scopes: authority.apiScope,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
      maxRedirects,
    });

  it('does not follow a 307 with a stream body the first hop consumed: no empty upload is stored', async () => {
    const failed = await fetchFor()('/upload', {
      method: 'PUT',
      body: stream(),
      duplex: 'half',
    }).catch((e: Error) => e);

    // As fetch itself fails such a redirect: TypeError 'fetch failed', the cause typed.
    expect(failed).toBeInstanceOf(TypeError);
    expect((failed as TypeError).cause).toMatchObject({ code: 'redirect_refused' });
    expect(api.received).toEqual([{ method: 'PUT', path: '/upload', bytes: 100_000 }]);
  });

  it('follows a 307 with a body it can send again, whole', async () => {
    const res = await fetchFor()('/upload', { method: 'PUT', body: Buffer.alloc(100_000, 3) });

    expect(await res.json()).toEqual({ stored: 100_000 });
    expect(api.received.map((r) => r.bytes)).toEqual([100_000, 100_000]);
  });

  /**
   * `POST /orders` → 303 → `GET /orders/1`, whose token was revoked between the two hops: the
   * order exists, and the 401 is the GET's. A new token and a re-send of the GET — never of the
   * POST, which made a second order. Counted at the API and at the authority.
   */
  describe('a 401 after a 303: the GET is sent again, never the processed POST', () => {
    let judge: ReturnType<typeof authorityJudge>;
    beforeAll(() => {
      judge = authorityJudge(authority);
      api.judge = judge.judge;
    });
    afterAll(async () => {
      api.judge = async () => undefined;
      api.onOrder = async () => undefined;
      await judge.close();
    });

    let ordering: TokenApp | undefined;
    afterEach(async () => {
      await ordering?.close();
      ordering = undefined;
    });

    /** An app of its own (a revocation counts whole seconds): its token revoked at the order. */
    async function revokedAtTheOrder(challenge: 'invalid_token' | 'insufficient_claims') {
      const tenant = authority.createTenant();
      const reg = tenant.createApp();
      ordering = await startTokenApp({
        credentials: {
          main: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
      });
      const tokens = ordering.app.get(TokenService);
      await tokens.getAccessToken(authority.apiScope);
      const requests = authority.countTokenRequests({ clientId: reg.clientId });
      // Once: the first order revokes the token it came with.
      let revoke = true;
      api.onOrder = async () => {
        if (revoke) await revokeTokens(authority, tenant.tenantId, reg.clientId, challenge);
        revoke = false;
      };
      const tokenRequests = () =>
        authority.countTokenRequests({ clientId: reg.clientId }) - requests;
      const fetchOrders = createAuthenticatedFetch(tokens, {
        baseUrl: api.url,
        scopes: authority.apiScope,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
      return { tokens, tokenRequests, fetchOrders };
    }
    const posts = () => api.received.filter((r) => r.method === 'POST');

    it.each(['invalid_token', 'insufficient_claims'] as const)(
      'fetch, refused with %s: one POST, the GET re-sent with a new token',
      async (challenge) => {
        const { tokenRequests, fetchOrders } = await revokedAtTheOrder(challenge);

        const res = await fetchOrders('orders', {
          method: 'POST',
          body: '{"item":"book"}',
          headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
        });

        expect(res.status).toBe(200);
        const order = ((await res.json()) as { order: number }).order;
        expect(posts()).toHaveLength(1);
        expect(api.received.map((r) => [r.method, r.path, r.bytes, r.status])).toEqual([
          ['POST', '/orders', 15, 303],
          ['GET', `/orders/${order}`, 0, 401],
          ['GET', `/orders/${order}`, 0, 200],
        ]);
        expect(tokenRequests()).toBe(1);
      },
    );

    it('a downstream API: one POST, the order it made returned', async () => {
      const { tokenRequests, tokens } = await revokedAtTheOrder('invalid_token');
      const orders = new DownstreamApi(
        'orders',
        { baseUrl: api.url, scopes: authority.apiScope, ca: [authority.caPem, pki.caPem] },
        tokens,
      );
      try {
        const created = await orders.post<{ order: number }>('orders', { item: 'book' });

        expect(posts()).toHaveLength(1);
        expect(api.received.map((r) => [r.method, r.status])).toEqual([
          ['POST', 303],
          ['GET', 401],
          ['GET', 200],
        ]);
        expect(created).toEqual({ order: expect.any(Number) });
        expect(api.received[2].path).toBe(`/orders/${created.order}`);
        expect(tokenRequests()).toBe(1);
      } finally {
        await orders.close();
      }
    });
  });

  it.each([NaN, -1, 1.5, 1000])(
    'refuses maxRedirects %s when the fetch is made, before any request',
    (maxRedirects) => {
      const e = (() => {
        try {
          fetchFor(maxRedirects);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(ConfigurationError);
      expect(e).toMatchObject({
        code: 'options_invalid',
        problems: [expect.stringMatching(/^maxRedirects: must be a whole number from 0 to 20 — /)],
      });
      expect(String((e as Error).message)).toMatch(/^Invalid createAuthenticatedFetch options:/);
      expect(api.received).toHaveLength(0);
    },
  );
});
