import { createServer, type Server } from 'node:https';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import axios, { type AxiosInstance } from 'axios';
import { Agent } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { undiciFetchAdapter } from '../support/axios-fetch-adapter';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { createTestPki, type TestPki } from './recording-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority] = useFixtures(startDevAuthority);

/** The slow authority's delay: far longer than the moment the tests abort at. */
const LATENCY_MS = 2000;

/** One request the API received: its method, path and token. */
interface Seen {
  method: string;
  path: string;
  token?: string;
  body: string;
}

/**
 * An orders API: `POST /orders` creates an order and answers 303 → `/orders/<n>` (the POST was
 * processed) — and, as a revocation between two hops would, revokes the token it was sent;
 * `GET` of anything else refuses a revoked token (401 `invalid_token`, with a body) and answers
 * 200 otherwise. Its idle connections stay open for minutes, as a front end's may: an answer
 * nobody reads keeps its socket busy that long.
 */
async function startApi(pki: TestPki) {
  const seen: Seen[] = [];
  const revoked = new Set<string>();
  let orders = 0;
  const server: Server = createServer(
    { cert: pki.certificatePem, key: pki.privateKeyPem, keepAliveTimeout: 600_000 },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const token = req.headers.authorization?.replace(/^Bearer /, '');
        seen.push({
          method: req.method!,
          path: req.url!,
          token,
          body: String(Buffer.concat(chunks)),
        });
        if (req.method === 'POST' && req.url === '/orders') {
          orders++;
          if (token !== undefined) revoked.add(token);
          res.writeHead(303, { location: `/orders/${orders}` });
          res.end();
        } else if (token === undefined || revoked.has(token)) {
          res.writeHead(401, {
            'www-authenticate': 'Bearer error="invalid_token"',
            'content-type': 'application/json',
          });
          res.end(JSON.stringify({ error: 'invalid_token', detail: 'x'.repeat(2048) }));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`contents of ${req.url}`);
        }
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    revoked,
    orders: () => orders,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

/**
 * What the axios interceptor does with a refused answer it does not hand back, against a real
 * token service and the local authority: a request a redirect rewrote is never sent again (only
 * its last hop), a refused answer read as a stream is released before the re-send, and a signal
 * that aborts the wait for a token rejects as axios rejects a cancellation.
 */
describe('axios interceptor: refused answers', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let app: TokenApp | undefined;
  let dispatcher: Agent;
  let agent: https.Agent;
  beforeAll(async () => {
    api = await startApi(pki);
    dispatcher = new Agent({ connect: { ca: [pki.caPem] } });
  });
  afterAll(() => releaseAll(dispatcher, api));
  beforeEach(() => {
    api.seen.length = 0;
    // Bounded and kept alive, as docs/calling-apis.md advises.
    agent = new https.Agent({ ca: pki.caPem, keepAlive: true, maxSockets: 1 });
  });
  afterEach(async () => {
    agent.destroy();
    await app?.close();
    app = undefined;
    authority.faults.clear();
  });

  /** A token app of a tenant of its own (no hold-off from another test), its token requests. */
  async function start() {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        main: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
    const count = () => authority.countTokenRequests({ clientId: reg.clientId });
    return { tokens: app.tokens, count, tenantId: tenant.tenantId };
  }

  function client(adapter: 'http' | 'fetch', extra: Record<string, unknown> = {}): AxiosInstance {
    const instance =
      adapter === 'http'
        ? axios.create({ adapter, baseURL: api.url, httpsAgent: agent, ...extra })
        : axios.create({ ...undiciFetchAdapter(dispatcher), baseURL: api.url, ...extra });
    useClientCredentials(instance, app!.tokens, { baseUrl: api.url, scopes: authority.apiScope });
    return instance;
  }

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter} adapter: POST → 303 → GET refused: one order, only the GET is sent again`, async () => {
      const { count } = await start();
      const orders = api.orders();

      const answer = await client(adapter).post('/orders', { item: 'book' });

      expect(answer).toMatchObject({ status: 200, data: `contents of /orders/${orders + 1}` });
      expect(api.orders()).toBe(orders + 1);
      const [first, second] = [api.seen[0].token, api.seen[2].token];
      expect(api.seen).toEqual([
        { method: 'POST', path: '/orders', token: first, body: '{"item":"book"}' },
        { method: 'GET', path: `/orders/${orders + 1}`, token: first, body: '' },
        { method: 'GET', path: `/orders/${orders + 1}`, token: second, body: '' },
      ]);
      expect(second).not.toBe(first);
      expect(count()).toBe(2);
    });
  }

  it('http adapter, responseType stream, one socket: refused downloads are released, all complete', async () => {
    const { tokens, count } = await start();
    const refused = await tokens.getAccessToken(authority.apiScope);
    api.revoked.add(refused.token);
    const instance = client('http', { responseType: 'stream' });

    // Queued on the one socket, each carrying the refused token; the 401s unread would keep it
    // busy for the server's keep-alive time (10 min), past the test's timeout.
    const answers = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const res = await instance.get(`/files/${n}`);
        return [res.status, await text(res.data as Readable)];
      }),
    );

    expect(answers).toEqual([1, 2, 3].map((n) => [200, `contents of /files/${n}`]));
    expect(api.seen.filter((s) => s.token === refused.token)).toHaveLength(3);
    expect(api.seen.filter((s) => s.token !== refused.token)).toHaveLength(3);
    expect(count()).toBe(2);
  });

  it("an abort while the call's token is awaited rejects as axios's cancellation", async () => {
    const { tenantId } = await start();
    // The token answers long after the abort: the call is still waiting for it then.
    authority.faults.add({ tenantId, kind: 'latency', latencyMs: LATENCY_MS });
    const caller = new AbortController();
    const call = client('http')
      .get('/files/1', { signal: caller.signal })
      .catch((e: unknown) => e);
    setTimeout(() => caller.abort(), 100);

    const failure = await call;

    expect(axios.isCancel(failure)).toBe(true);
    expect(failure).toMatchObject({ name: 'CanceledError', code: 'ERR_CANCELED' });
    expect(api.seen).toHaveLength(0);
  });

  it('an abort while the replacement of a refused token is awaited rejects as a cancellation', async () => {
    const { tokens, tenantId } = await start();
    const refused = await tokens.getAccessToken(authority.apiScope);
    api.revoked.add(refused.token);
    authority.faults.add({ tenantId, kind: 'latency', latencyMs: LATENCY_MS });
    const caller = new AbortController();
    // Aborted once the interceptor has told the token service of the refusal: the replacement's
    // token request is under way, and answers long after.
    const refusals = tokens.events.subscribe((event) => {
      if (event.type === 'token-refused') setImmediate(() => caller.abort());
    });
    const call = client('http')
      .get('/files/1', { signal: caller.signal })
      .catch((e: unknown) => e);

    const failure = await call;
    refusals.unsubscribe();

    expect(axios.isCancel(failure)).toBe(true);
    expect(failure).toMatchObject({ name: 'CanceledError', code: 'ERR_CANCELED' });
    // What it hands back shows no token.
    expect(JSON.stringify(failure)).not.toContain(refused.token);
    expect(
      (failure as { config: { headers: { get(n: string): unknown } } }).config.headers.get(
        'Authorization',
      ),
    ).toBe('Bearer [redacted]');
    expect(api.seen).toHaveLength(1);
  });
});
