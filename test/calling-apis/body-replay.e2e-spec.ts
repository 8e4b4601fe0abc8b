import axios, { type AxiosInstance } from 'axios';
import FormData from 'form-data';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { revokeTokens } from './control';
import { createTestPki, type TestPki } from './recording-server';
import { authorityJudge, UploadServer } from './upload-server';

const SIZE = 100_000;
const payload = () => Buffer.alloc(SIZE, 0x61);

let pki: TestPki;
let judge: ReturnType<typeof authorityJudge>;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, server] = useFixtures(startDevAuthority, () => UploadServer.start(pki));
beforeAll(() => {
  judge = authorityJudge(authority);
  server.judgeWith(judge.judge);
});
afterAll(() => judge?.close());

type Kind = 'fetch' | 'axios';
/** What an upload came back with, whichever integration sent it. */
interface Answer {
  status: number;
  body?: unknown;
}
type Body = { name: string; make: () => unknown };

/** Bodies that can be sent again: re-sent whole after a refusal. */
const replayable: Record<Kind, Body[]> = {
  fetch: [
    { name: 'a string', make: () => payload().toString() },
    { name: 'a Buffer', make: payload },
    { name: 'a Uint8Array', make: () => new Uint8Array(payload()) },
    { name: 'a Blob', make: () => new Blob([payload()]) },
  ],
  axios: [
    { name: 'a string', make: () => payload().toString() },
    { name: 'a Buffer', make: payload },
    { name: 'a Uint8Array', make: () => new Uint8Array(payload()) },
  ],
};

/** Bodies that are read once: never re-sent (the re-send would carry nothing of them). */
const oneShot: Record<Kind, Body[]> = {
  fetch: [
    { name: 'a web ReadableStream', make: () => Readable.toWeb(Readable.from([payload()])) },
    {
      name: 'an async iterable',
      make: () =>
        (async function* () {
          yield payload();
        })(),
    },
  ],
  axios: [
    { name: 'a Node stream', make: () => Readable.from([payload()]) },
    {
      name: 'a form-data stream',
      make: () => {
        const form = new FormData();
        form.append('file', Readable.from([payload()]), { filename: 'a.bin' });
        return form;
      },
    },
  ],
};

/**
 * A body can be sent twice only if it can be read twice. After a 401 that a new token answers,
 * fetch and axios re-send the request: a stream's second send carried 0 bytes, which the API
 * stored as an empty upload (`201 {"stored":0}`) — the caller saw success and lost its data.
 * Both integrations follow one rule: a body that can be read again is re-sent whole; a one-shot
 * body is not re-sent, the caller gets the API's 401, and the refused token is withdrawn so that
 * the caller's next request (a new stream) goes out with a new token. Counted at the API (bytes
 * received) and at the authority (token requests).
 */
describe.each<Kind>(['fetch', 'axios'])('%s: replaying a body after a 401', (kind) => {
  let app: TokenApp | undefined;
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    await releaseAll(...closers.splice(0).map((close) => ({ close })));
    await app?.close();
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
    const ca = [authority.caPem, pki.caPem];
    let upload: (body: unknown) => Promise<Answer>;
    if (kind === 'fetch') {
      const dispatcher = new Agent({ connect: { ca } });
      closers.push(() => dispatcher.close());
      const send = createAuthenticatedFetch(app.tokens, {
        baseUrl: server.url,
        scopes: authority.apiScope,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
      upload = async (body) => {
        // `duplex` (a stream body needs it) is not in RequestInit's type.
        const init = { method: 'POST', body, duplex: 'half' } as RequestInit;
        const res = await send('upload', init);
        return { status: res.status, body: await res.json() };
      };
    } else {
      const agent = new HttpsAgent({ ca, keepAlive: true });
      closers.push(() => agent.destroy());
      const instance: AxiosInstance = axios.create({ httpsAgent: agent });
      useClientCredentials(instance, app.tokens, {
        baseUrl: server.url,
        scopes: authority.apiScope,
      });
      upload = async (body) => {
        try {
          const res = await instance.post(`${server.url}/upload`, body);
          return { status: res.status, body: res.data };
        } catch (e) {
          const res = (e as { response?: { status: number; data: unknown } }).response;
          if (res === undefined) throw e;
          return { status: res.status, body: res.data };
        }
      };
    }
    await app.tokens.getAccessToken(authority.apiScope);
    const tokenRequests = () => authority.countTokenRequests({ clientId: reg.clientId });
    const revoke = (challenge: 'invalid_token' | 'insufficient_claims') =>
      revokeTokens(authority, tenant.tenantId, reg.clientId, challenge);
    server.uploads.length = 0;
    return { upload, tokenRequests, revoke };
  }

  describe.each(['invalid_token', 'insufficient_claims'] as const)(
    'refused with %s',
    (challenge) => {
      it.each(oneShot[kind].map((b) => [b.name, b] as const))(
        '%s is not re-sent: the caller gets the 401, its next request a new token',
        async (_, body) => {
          const { upload, tokenRequests, revoke } = await start();
          await revoke(challenge);

          const refused = await upload(body.make());

          expect(refused.status).toBe(401);
          // One send, whole; no second one carrying what was left of the stream.
          expect(server.uploads).toHaveLength(1);
          expect(server.uploads[0]).toMatchObject({ status: 401 });
          expect(server.uploads[0].bytes).toBeGreaterThanOrEqual(SIZE);
          // No token fetched for a re-send that cannot happen.
          expect(tokenRequests()).toBe(1);

          // The refused token is no longer served: the next upload goes out with a new one.
          const next = await upload(body.make());
          expect(next).toMatchObject({ status: 201 });
          expect(server.uploads).toHaveLength(2);
          expect(server.uploads[1].bytes).toBe(server.uploads[0].bytes);
          expect(tokenRequests()).toBe(2);
        },
      );

      it.each(replayable[kind].map((b) => [b.name, b] as const))(
        '%s is re-sent whole with a new token',
        async (_, body) => {
          const { upload, tokenRequests, revoke } = await start();
          await revoke(challenge);

          const answer = await upload(body.make());

          expect(answer).toEqual({ status: 201, body: { stored: SIZE } });
          expect(server.uploads.map((u) => [u.status, u.bytes])).toEqual([
            [401, SIZE],
            [201, SIZE],
          ]);
          expect(tokenRequests()).toBe(2);
        },
      );
    },
  );
});

/**
 * An agent identity's refused token, with a body that cannot be sent again: withdrawn as the
 * credential's own would be — the forget went to the credential's own key, and every streamed
 * upload of the agent was refused until its token expired. Counted at the authority (the agent's
 * own token requests).
 */
describe('fetch: an agent identity refused with a one-shot body', () => {
  it("withdraws the agent's token: its next upload goes out with a new one", async () => {
    const tenant = authority.createTenant();
    const blueprint = tenant.createAgentBlueprint();
    const agent = blueprint.createAgentIdentity({ displayName: 'billing' });
    const app = await startTokenApp({
      credentials: {
        fleet: {
          ...localCredential(authority, tenant.tenantId, blueprint.clientId, [
            { type: 'secret', secret: blueprint.addSecret() },
          ]),
          agentBlueprint: { agents: { billing: agent.clientId } },
        },
      },
    });
    const dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
    try {
      const send = createAuthenticatedFetch(app.tokens, {
        baseUrl: server.url,
        scopes: authority.apiScope,
        agent: 'billing',
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
      const upload = async () => {
        const body = Readable.toWeb(Readable.from([payload()]));
        const res = await send('upload', { method: 'POST', body, duplex: 'half' });
        await res.body?.cancel();
        return res.status;
      };
      const agentTokens = () => authority.countTokenRequests({ clientId: agent.clientId });
      await app.tokens.getAccessToken(authority.apiScope, { agent: 'billing' });
      await revokeTokens(authority, tenant.tenantId, agent.clientId, 'invalid_token');
      server.uploads.length = 0;

      expect(await upload()).toBe(401);
      expect(agentTokens()).toBe(1);

      expect(await upload()).toBe(201);
      expect(server.uploads.map((u) => u.status)).toEqual([401, 201]);
      expect(agentTokens()).toBe(2);
    } finally {
      await releaseAll(app, dispatcher);
    }
  });
});

/**
 * A `Request` as the input (openapi-fetch and ky call their fetch so): its method, headers and
 * body reach the API, and its body — read once by a send — is re-sent whole after a refusal.
 */
describe('fetch: a Request as input', () => {
  it('is sent as fetch sends it, and re-sent whole with a new token', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    });
    const dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
    try {
      const send = createAuthenticatedFetch(app.tokens, {
        baseUrl: server.url,
        scopes: authority.apiScope,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });
      await app.tokens.getAccessToken(authority.apiScope);
      await revokeTokens(authority, tenant.tenantId, reg.clientId, 'invalid_token');
      server.uploads.length = 0;

      const res = await send(
        new Request(`${server.url}/upload`, { method: 'PUT', body: payload() }),
      );

      expect(await res.json()).toEqual({ stored: SIZE });
      expect(server.uploads.map((u) => [u.method, u.path, u.status, u.bytes])).toEqual([
        ['PUT', '/upload', 401, SIZE],
        ['PUT', '/upload', 201, SIZE],
      ]);
      expect(authority.countTokenRequests({ clientId: reg.clientId })).toBe(2);

      // Anything else is refused before a token or a request: it was sent to `<base>/[object …]`.
      await expect(send({ url: 'upload' } as unknown as string)).rejects.toThrow(
        new TypeError(
          'An authenticated fetch takes a path (a string), a URL or a Request, not object.',
        ),
      );
      expect(server.uploads).toHaveLength(2);

      // A streamed body that never ends: the origin is checked before it is read, and the call's
      // signal ends the read as it would end fetch's upload.
      const endless = () =>
        new Request(`${server.url}/upload`, {
          method: 'POST',
          body: new ReadableStream({ pull: () => new Promise(() => undefined) }),
          duplex: 'half',
        });
      const other = new Request('https://other.example/upload', {
        method: 'POST',
        body: new ReadableStream({ pull: () => new Promise(() => undefined) }),
        duplex: 'half',
      });
      await expect(send(other)).rejects.toMatchObject({ code: 'origin_refused' });
      const controller = new AbortController();
      const pending = send(endless(), { signal: controller.signal });
      controller.abort(new DOMException('gave up', 'TimeoutError'));
      await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(server.uploads).toHaveLength(2);
    } finally {
      await releaseAll(app, dispatcher);
    }
  });
});
