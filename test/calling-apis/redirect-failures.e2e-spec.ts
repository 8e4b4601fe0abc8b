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

/** Locations fetch refuses to follow, each with what undici's own fetch says of it. */
const BAD_LOCATIONS = [
  ['not a URL', 'http://[oops'],
  ['an ftp URL', 'ftp://127.0.0.1/x'],
  ['a data: URL', 'data:application/json,{"forged":true}'],
  ['a file: URL', 'file:///etc/passwd'],
] as const;

/**
 * Every redirect the authenticated fetch does not follow fails the same typed way — fetch's own
 * TypeError('fetch failed'), its cause a `redirect_refused` DownstreamApiError — not only a loop
 * (test/calling-apis/redirects.e2e-spec.ts): a Location that is no URL threw the URL parser's
 * plain TypeError, and one of another scheme was followed (a `data:` URL answered as the API).
 * Counted at the API: one request each.
 */
describe('authenticated fetch: a Location fetch would not follow', () => {
  let app: INestApplicationContext;
  let dispatcher: Agent;

  beforeAll(async () => {
    const ca = [authority.caPem, pki.caPem];
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
          apis: { api: { baseUrl: api.url, scopes: authority.apiScope, ca } },
        }),
      ],
    ));
  });
  afterAll(() => releaseAll(app, dispatcher));
  beforeEach(() => {
    api.requests.length = 0;
  });

  const path = (to: string) => `redirect?to=${encodeURIComponent(to)}`;

  it.each(BAD_LOCATIONS)(
    '%s: TypeError "fetch failed", its cause redirect_refused',
    async (_, to) => {
      const own = await undiciFetch(`${api.url}/${path(to)}`, { dispatcher }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(own).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
      api.requests.length = 0;
      const send = createAuthenticatedFetch(app.get(TokenService), {
        baseUrl: api.url,
        scopes: authority.apiScope,
        fetch: undiciFetch as unknown as FetchFunction,
        dispatcher,
      });

      const failure = await send(path(to)).then(
        (res) => res.status,
        (e: unknown) => e,
      );

      expect(failure).toBeInstanceOf(TypeError);
      expect((failure as TypeError).message).toBe('fetch failed');
      expect((failure as TypeError).cause).toBeInstanceOf(DownstreamApiError);
      expect((failure as TypeError).cause).toMatchObject({
        code: 'redirect_refused',
        method: 'GET',
        path: '/redirect',
        status: 302,
      });
      expect(api.requests).toHaveLength(1);
    },
  );

  it.each(BAD_LOCATIONS)('%s: a downstream API reports redirect_refused', async (_, to) => {
    const client = app.get<DownstreamApi>(getDownstreamApiToken('api'));

    await expect(client.get(path(to))).rejects.toMatchObject({
      code: 'redirect_refused',
      api: 'api',
      status: 302,
    });
    expect(api.requests).toHaveLength(1);
  });
});
