import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';
import { Agent, fetch as undiciFetch, Request, Response } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { createTestPki, RecordingServer, type TestPki } from './recording-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, origin, other] = useFixtures(
  startDevAuthority,
  () => RecordingServer.start(pki),
  () => RecordingServer.start(pki),
);

type Kind = 'axios with its fetch adapter' | 'fetch, given a fetch that follows redirects itself';

/**
 * The API redirects to another origin, which never got the token and answers 401 with a claims
 * challenge of its choosing. Its answer says nothing of the token: it must not make the app
 * withdraw a valid token nor fetch tokens. The integrations' own redirect handling knows which
 * hop got the token (test/calling-apis/integrations.e2e-spec.ts); here the redirects are followed
 * by fetch itself — axios's fetch adapter, or a `fetch` that ignores `redirect: 'manual'` — and
 * only the response's final URL tells whose answer it is. Counted at the authority.
 */
describe.each<Kind>([
  'axios with its fetch adapter',
  'fetch, given a fetch that follows redirects itself',
])('%s: a 401 of another origin', (kind) => {
  let app: TokenApp | undefined;
  let dispatcher: Agent;
  beforeEach(() => {
    dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
  });
  afterEach(async () => {
    await releaseAll(app, dispatcher);
    app = undefined;
  });

  async function start() {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
    let call: (path: string) => Promise<number>;
    if (kind === 'axios with its fetch adapter') {
      const instance: AxiosInstance = axios.create({
        adapter: 'fetch',
        // undici's own fetch with its Request and Response (a dispatcher trusting the test CAs).
        env: { fetch: undiciFetch, Request, Response } as unknown as AxiosRequestConfig['env'],
        fetchOptions: { dispatcher },
      });
      useClientCredentials(instance, app.tokens, {
        baseUrl: origin.url,
        scopes: authority.apiScope,
      });
      call = async (path) => {
        const res = await instance.get(`${origin.url}/${path}`, { validateStatus: () => true });
        return res.status;
      };
    } else {
      const following: FetchFunction = (input, init) =>
        (undiciFetch as unknown as FetchFunction)(input, { ...init, redirect: 'follow' });
      const send = createAuthenticatedFetch(app.tokens, {
        baseUrl: origin.url,
        scopes: authority.apiScope,
        fetch: following,
        dispatcher,
      });
      call = async (path) => {
        const res = await send(path);
        await res.body?.cancel();
        return res.status;
      };
    }
    const tokenRequests = () => authority.countTokenRequests({ clientId: reg.clientId });
    return { call, tokenRequests };
  }

  it('costs no token request, and the API keeps getting the same token', async () => {
    const { call, tokenRequests } = await start();
    expect(await call('data')).toBe(200);
    other.requests.length = 0;
    origin.requests.length = 0;

    for (let i = 0; i < 5; i++) {
      const status = await call(`redirect?to=${encodeURIComponent(`${other.url}/unauthorized`)}`);
      expect(status).toBe(401);
    }
    expect(await call('data')).toBe(200);

    expect(tokenRequests()).toBe(1);
    // Each call reached the other origin once, without the token: no re-send.
    expect(other.requests).toHaveLength(5);
    expect(other.requests.every((r) => r.authorization === undefined)).toBe(true);
    // The API saw one token throughout: it was never withdrawn.
    expect(new Set(origin.requests.map((r) => r.authorization)).size).toBe(1);
    expect(origin.requests[0].authorization).toMatch(/^Bearer ey/);
  });
});
