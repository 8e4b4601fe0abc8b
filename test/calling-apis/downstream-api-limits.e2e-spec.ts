import type { INestApplicationContext } from '@nestjs/common';
import { startDevAuthority } from '@app/dev-authority';
import { DownstreamApiError } from '@app/client-credentials/calling';
import type { DownstreamApi, DownstreamApiOptions } from '@app/client-credentials/downstream-api';
import { useFixtures } from '../support/fixtures';
import { localCredential } from '../support/token-app';
import { startDownstreamApp } from './downstream-app';
import { createTestPki, type TestPki } from './recording-server';
import { StreamingServer } from './streaming-server';

const MiB = 1024 * 1024;
/** What an API offers in the large-body cases: far more than any bound below plus every buffer. */
const OFFERED = 64 * MiB;
/**
 * Bytes a server can write past what the client read: loopback socket buffers, TLS records,
 * undici's stream buffer and the server's own 64 KiB chunk. Measured here: 1,114,113 bytes
 * written for a 1 MiB bound (the bound + one chunk); 64 MiB without a bound.
 */
const SLACK = 4 * MiB;

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, server] = useFixtures(startDevAuthority, () => StreamingServer.start(pki));

/**
 * A named downstream API's limits against a real HTTPS server that counts what it wrote: a body
 * over `maxResponseBytes` is not read past the bound (bytes counted at the server, not time), and
 * `close()` ends calls in flight and every connection.
 */
describe('DownstreamApi: bounded responses and close()', () => {
  let app: INestApplicationContext | undefined;

  beforeAll(() => {
    ca = [authority.caPem, pki.caPem];
  });
  let ca: string[];
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** An app with one downstream API `api` on the streaming server. */
  async function start(api: Partial<DownstreamApiOptions> = {}): Promise<DownstreamApi> {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    let client: DownstreamApi;
    ({ app, api: client } = await startDownstreamApp(
      {
        credentials: {
          main: localCredential(authority, tenant.tenantId, reg.clientId, [
            { type: 'secret', secret: reg.addSecret() },
          ]),
        },
      },
      'api',
      { baseUrl: server.url, scopes: authority.apiScope, ca, ...api },
    ));
    return client;
  }

  describe('a body over maxResponseBytes', () => {
    it.each([
      ['streamed (chunked)', ''],
      ['with a Content-Length', '&declare=1'],
    ])(
      '%s: rejected with api_response_too_large, read no further than the bound',
      async (_, declare) => {
        const api = await start({ maxResponseBytes: MiB });
        server.served.length = 0;

        const call = api.get(`large?bytes=${OFFERED}${declare}`);
        await expect(call).rejects.toBeInstanceOf(DownstreamApiError);
        await expect(call).rejects.toMatchObject({
          code: 'api_response_too_large',
          status: 200,
          path: 'large',
        });

        const [served] = server.served;
        // The client left: the server's writes stopped within the bound and the buffers.
        expect(await served.done).toBe('closed');
        expect(served.written).toBeLessThan(MiB + SLACK);

        // The API's pool serves the next call.
        await expect(api.get('small')).resolves.toEqual({ ok: true });
      },
    );

    it('an error status with a large body: the same, with its status', async () => {
      const api = await start({ maxResponseBytes: MiB });
      server.served.length = 0;

      await expect(api.get(`large?bytes=${OFFERED}&status=500`)).rejects.toMatchObject({
        code: 'api_response_too_large',
        status: 500,
      });
      expect(await server.served[0].done).toBe('closed');
      expect(server.served[0].written).toBeLessThan(MiB + SLACK);
    });

    it('by default the bound is 10 MiB', async () => {
      const api = await start();
      server.served.length = 0;

      await expect(api.get(`large?bytes=${OFFERED}`)).rejects.toMatchObject({
        code: 'api_response_too_large',
      });
      expect(await server.served[0].done).toBe('closed');
      expect(server.served[0].written).toBeLessThan(10 * MiB + SLACK);
      // A body of exactly the bound is read whole.
      await expect(api.get(`large?bytes=${10 * MiB}`)).resolves.toBe(1);
      expect(await server.served[1].done).toBe('finished');
    });
  });

  it('a body that stalls past timeoutMs fails as api_unreachable, like a silent API', async () => {
    const api = await start({ timeoutMs: 1000 });
    server.served.length = 0;

    const call = api.get('stall');
    await expect(call).rejects.toBeInstanceOf(DownstreamApiError);
    await expect(call).rejects.toMatchObject({
      code: 'api_unreachable',
      message: expect.stringContaining('did not answer within 1000 ms'),
    });
    expect(await server.served[0].done).toBe('closed');
  });

  describe('close()', () => {
    it('a call in flight rejects with api_closed, and the server is left no connection', async () => {
      const api = await start();
      await expect(api.get('small')).resolves.toEqual({ ok: true }); // a kept-alive connection
      const arrived = server.nextRequest();
      const inFlight = api.get('slow');
      const served = await arrived;
      expect(server.open).toBeGreaterThan(0);

      await api.close();

      await expect(inFlight).rejects.toBeInstanceOf(DownstreamApiError);
      await expect(inFlight).rejects.toMatchObject({ code: 'api_closed', path: 'slow' });
      expect(await served.done).toBe('closed');
      await server.allClosed();
      expect(server.open).toBe(0);

      // After close, a call fails at once with the same code and opens nothing.
      const accepted = server.accepted;
      await expect(api.get('small')).rejects.toMatchObject({ code: 'api_closed' });
      expect(server.accepted).toBe(accepted);
    });

    it('app.close() ends a call in flight the same way', async () => {
      const api = await start();
      const arrived = server.nextRequest();
      const inFlight = api.get('slow');
      inFlight.catch(() => undefined);
      const served = await arrived;

      await app!.close();
      app = undefined;

      await expect(inFlight).rejects.toMatchObject({ code: 'api_closed' });
      expect(await served.done).toBe('closed');
      await server.allClosed();
      expect(server.open).toBe(0);
    });
  });
});
