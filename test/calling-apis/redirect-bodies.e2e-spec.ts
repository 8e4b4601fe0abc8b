import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { TokenService } from '@app/client-credentials';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { createTestPki, type TestPki } from './recording-server';

/** An upload API on 127.0.0.1: `/upload` answers 307 to `/stored`, which stores what it got. */
class UploadApi {
  url = '';
  private constructor(
    private readonly server: Server,
    readonly received: { path: string; bytes: number }[],
  ) {}

  static async start(pki: TestPki): Promise<UploadApi> {
    const received: { path: string; bytes: number }[] = [];
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.on('end', () => {
          received.push({ path: req.url ?? '', bytes });
          if (req.url === '/upload') {
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
    expect(api.received).toEqual([{ path: '/upload', bytes: 100_000 }]);
  });

  it('follows a 307 with a body it can send again, whole', async () => {
    const res = await fetchFor()('/upload', { method: 'PUT', body: Buffer.alloc(100_000, 3) });

    expect(await res.json()).toEqual({ stored: 100_000 });
    expect(api.received.map((r) => r.bytes)).toEqual([100_000, 100_000]);
  });

  it.each([NaN, -1, 1.5, 1000])(
    'refuses maxRedirects %s when the fetch is made, before any request',
    (maxRedirects) => {
      expect(() => fetchFor(maxRedirects)).toThrow(
        expect.objectContaining({
          code: 'options_invalid',
          message: expect.stringContaining('maxRedirects: must be a whole number from 0 to 20'),
        }),
      );
      expect(api.received).toHaveLength(0);
    },
  );
});
