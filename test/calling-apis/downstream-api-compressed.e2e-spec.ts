import type { INestApplicationContext } from '@nestjs/common';
import { startDevAuthority } from '@app/dev-authority';
import { DownstreamApiError } from '@app/client-credentials/calling';
import type { DownstreamApi } from '@app/client-credentials/downstream-api';
import { useFixtures } from '../support/fixtures';
import { localCredential } from '../support/token-app';
import { CompressingServer } from './compressing-server';
import { startDownstreamApp } from './downstream-app';
import { createTestPki, type TestPki } from './recording-server';

const MiB = 1024 * 1024;
/**
 * Compressed bytes a server can write past what the client decoded: socket buffers, TLS records,
 * undici's and zlib's buffers. At about a thousand to one, 4 MiB of them are 4 GiB decoded: a
 * client that read the body unbounded would never end (the server writes for ever).
 */
const SLACK = 4 * MiB;

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, server] = useFixtures(startDevAuthority, () => CompressingServer.start(pki));

/**
 * Suspicion settled: `maxResponseBytes` bounds every body a downstream API reads, compressed ones
 * included — the bound is on decoded bytes, and decoding is streamed, so a body that inflates
 * without end (a compression bomb) is cancelled at the bound whatever its status, encoding or
 * declared length. Counted at the server: the compressed bytes it could write before the client
 * left.
 */
describe('DownstreamApi: compressed bodies are bounded by maxResponseBytes, decoded', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(): Promise<DownstreamApi> {
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
      {
        baseUrl: server.url,
        scopes: authority.apiScope,
        ca: [authority.caPem, pki.caPem],
        maxResponseBytes: MiB,
      },
    ));
    server.served.length = 0;
    return client;
  }

  async function expectLeftAtTheBound(index: number): Promise<void> {
    const served = server.served[index];
    expect(await served.done).toBe('closed');
    expect(served.written).toBeLessThan(SLACK);
  }

  it.each([
    ['gzip', 200, ''],
    ['deflate', 200, ''],
    ['br', 200, ''],
    ['gzip', 500, ''],
    ['gzip', 404, ''],
    ['gzip', 200, '&length=1000000000'],
  ])('%s, status %d%s: endless, cut at the bound', async (encoding, status, extra) => {
    const api = await start();

    const call = api.get(`bomb?encoding=${encoding}&status=${status}${extra}`);

    await expect(call).rejects.toBeInstanceOf(DownstreamApiError);
    await expect(call).rejects.toMatchObject({ code: 'api_response_too_large', status });
    await expectLeftAtTheBound(0);
  });

  it('a 401 whose body is endless: the refused answer is not read, the re-sent one is bounded', async () => {
    const api = await start();

    await expect(api.get('bomb?status=401&challenge=invalid_token')).rejects.toMatchObject({
      code: 'api_response_too_large',
      status: 401,
    });
    expect(server.served).toHaveLength(2);
    await expectLeftAtTheBound(0);
    await expectLeftAtTheBound(1);
  });

  it('a compressed body of exactly the bound, decoded, is read whole', async () => {
    const api = await start();
    await expect(api.get(`bomb?encoding=gzip&decoded=${MiB}`)).resolves.toBe(1);
    expect(await server.served[0].done).toBe('finished');
    await expect(api.get(`bomb?encoding=gzip&decoded=${MiB + 1}`)).rejects.toMatchObject({
      code: 'api_response_too_large',
    });
  });
});
