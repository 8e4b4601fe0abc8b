import type { INestApplicationContext } from '@nestjs/common';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { TokenEndpointError, TokenService } from '@app/client-credentials';
import {
  createAuthenticatedFetch,
  DownstreamApiError,
  type FetchFunction,
} from '@app/client-credentials/calling';
import type { DownstreamApi } from '@app/client-credentials/downstream-api';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential } from '../support/token-app';
import { startDownstreamApp } from './downstream-app';
import { createTestPki, RecordingServer, type TestPki } from './recording-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, api] = useFixtures(startDevAuthority, () => RecordingServer.start(pki));

/** The slow authority's delay: far longer than any deadline below. */
const LATENCY_MS = 2000;

/**
 * A call's deadline passing while it waits for its token. The token service ends a caller's wait
 * when the caller's signal aborts, and calls that `aborted` ("Nothing to fix"); a downstream API
 * aborts that signal itself when its `timeoutMs` is up, and reported its own timeout as the
 * caller's abort. Counted: requests at the API (none: the token never came).
 */
describe('a deadline that passes while the call waits for its token', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    authority.faults.clear();
  });

  async function start(timeoutMs: number, slowAuthority = true) {
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
      'slow',
      { baseUrl: api.url, scopes: authority.apiScope, ca: [authority.caPem, pki.caPem], timeoutMs },
    ));
    if (slowAuthority) {
      authority.faults.add({ tenantId: tenant.tenantId, kind: 'latency', latencyMs: LATENCY_MS });
    }
    api.requests.length = 0;
    const tokenRequests = () => authority.countTokenRequests({ clientId: reg.clientId });
    return { client, tokenRequests };
  }

  it("DownstreamApi: its timeoutMs is a timeout naming timeoutMs, not the caller's abort", async () => {
    const { client } = await start(500);

    const failure = await client.get('data').then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(failure).toBeInstanceOf(TokenEndpointError);
    expect(failure).toMatchObject({
      code: 'timeout',
      transient: true,
      credential: 'main',
      message: expect.stringMatching(
        /GET data of API 'slow' got no token within 500 ms \(timeoutMs\)/,
      ),
    });
    expect(api.requests).toHaveLength(0);
  });

  it('DownstreamApi: its timeoutMs while the API answers is `api_unreachable`', async () => {
    const { client } = await start(200, false);
    // The token first, so that the call's time goes to the API alone, however loaded the machine.
    await app!.get(TokenService).getAccessToken(authority.apiScope, { credential: 'main' });
    await expect(client.get('hang')).rejects.toMatchObject({ code: 'api_unreachable' });
  });

  describe("DownstreamApi: a caller's signal ends the call with `api_aborted`, every time", () => {
    it('while the token is awaited', async () => {
      const { client } = await start(30_000);
      const caller = new AbortController();
      const reason = new Error('the user went away');
      const call = client.get('data', { signal: caller.signal });
      setTimeout(() => caller.abort(reason), 100);

      await expect(call).rejects.toBeInstanceOf(DownstreamApiError);
      await expect(call).rejects.toMatchObject({ code: 'api_aborted', api: 'slow', cause: reason });
      expect(api.requests).toHaveLength(0);
    });

    it('aborted before the call, with no token yet and with one cached: nothing fetched or sent', async () => {
      const { client, tokenRequests } = await start(30_000, false);

      await expect(client.get('data', { signal: AbortSignal.abort() })).rejects.toMatchObject({
        code: 'api_aborted',
        cause: { name: 'AbortError' },
      });
      expect(tokenRequests()).toBe(0);
      await client.get('data');
      await expect(client.get('data', { signal: AbortSignal.abort() })).rejects.toMatchObject({
        code: 'api_aborted',
      });

      expect(tokenRequests()).toBe(1);
      expect(api.requests).toHaveLength(1);
    });

    it("while the API answers — aborted, or the caller's AbortSignal.timeout() — as one code", async () => {
      const { client } = await start(30_000, false);
      const caller = new AbortController();
      const aborted = client.get('hang', { signal: caller.signal }).catch((e: unknown) => e);
      await api.nextRequest();
      caller.abort();
      const timedOut = await client
        .get('hang', { signal: AbortSignal.timeout(50) })
        .catch((e: unknown) => e);

      expect(await aborted).toMatchObject({ code: 'api_aborted', cause: { name: 'AbortError' } });
      expect(timedOut).toMatchObject({ code: 'api_aborted', cause: { name: 'TimeoutError' } });
    });
  });

  describe("createAuthenticatedFetch: a caller's signal rejects as fetch does, with its reason", () => {
    let dispatcher: Agent;
    beforeEach(() => {
      dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
    });
    afterEach(() => releaseAll(dispatcher));

    async function authenticatedFetch() {
      await start(30_000);
      const send = createAuthenticatedFetch(app!.get(TokenService), {
        baseUrl: api.url,
        scopes: authority.apiScope,
        credential: 'main',
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
      return { send };
    }

    it('AbortSignal.timeout() while the token is awaited: a TimeoutError, as fetch rejects with', async () => {
      const { send } = await authenticatedFetch();

      const failure = await send('data', { signal: AbortSignal.timeout(200) }).then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(failure).toMatchObject({ name: 'TimeoutError' });
      expect(api.requests).toHaveLength(0);
    });

    it('abort(reason): that reason', async () => {
      const { send } = await authenticatedFetch();
      const caller = new AbortController();
      const reason = new Error('the user went away');
      const call = send('data', { signal: caller.signal });
      setTimeout(() => caller.abort(reason), 100);

      await expect(call).rejects.toBe(reason);
      expect(api.requests).toHaveLength(0);
    });
  });
});
