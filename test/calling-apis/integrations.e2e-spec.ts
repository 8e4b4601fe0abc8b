import { HttpModule, HttpService } from '@nestjs/axios';
import type { INestApplicationContext } from '@nestjs/common';
import axios, { type AxiosInstance } from 'axios';
import { Agent as HttpsAgent } from 'node:https';
import { firstValueFrom } from 'rxjs';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { TokenService } from '@app/client-credentials';
import {
  createAuthenticatedFetch,
  DownstreamApiError,
  type FetchFunction,
} from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
} from '@app/client-credentials/downstream-api';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp } from '../support/token-app';
import { revokeTokens } from './control';
import { createTestPki, RecordingServer, type TestPki } from './recording-server';

type Kind = 'fetch' | 'axios' | '@nestjs/axios' | 'downstream-api';

/**
 * The axios cases' agent, bounded like the fetch case's undici pool (and the downstream API's).
 * Node's default agent has no socket limit: 1,000 concurrent calls opened 1,000 connections, each
 * building its own TLS context from the CA list and handshaking — 2,000 handshakes per test, most
 * of the suite's minutes — which measured the test's agent, not the integration.
 */
function boundedAgent(ca: string[]): HttpsAgent {
  return new HttpsAgent({ ca, keepAlive: true, maxSockets: 16 });
}
/** What a call came back with, whichever integration made it. */
interface Answer {
  status: number;
  body?: unknown;
  error?: unknown;
  /** downstream-api only (`DownstreamApi.call`): the refusal the call recovered from. */
  refused?: string;
  /** downstream-api only: where the token came from. */
  source?: string;
}

/**
 * The three integrations (fetch/undici, axios and @nestjs/axios, named downstream APIs) end to end
 * against the local authority's protected API over HTTPS, which validates every token; the
 * authority's own log counts token requests and API calls.
 */
describe.each<Kind>(['fetch', 'axios', '@nestjs/axios', 'downstream-api'])(
  'calling APIs with %s',
  (kind) => {
    let pki: TestPki;
    beforeAll(async () => {
      pki = await createTestPki();
    });
    const [authority, origin, other] = useFixtures(
      startDevAuthority,
      () => RecordingServer.start(pki),
      () => RecordingServer.start(pki),
    );
    let app: INestApplicationContext | undefined;
    const closers: (() => Promise<unknown>)[] = [];

    afterEach(async () => {
      for (const close of closers.splice(0)) await close();
      await app?.close();
      app = undefined;
    });

    /** An app with its own registration; `call(api, path)` goes through the integration under test. */
    async function start(roles?: string[]) {
      const tenant = authority.createTenant();
      const reg = tenant.createApp(roles === undefined ? {} : { roles });
      const secret = reg.addSecret();
      const ca = [authority.caPem, pki.caPem];
      const bases = { demo: authority.apiUrl, origin: origin.url };
      ({ app } = await startTokenApp(
        {
          isGlobal: true,
          credentials: {
            api: localCredential(authority, tenant.tenantId, reg.clientId, [
              { type: 'secret', secret },
            ]),
          },
        },
        [
          // Only the integration under test: each downstream API builds its TLS context (the
          // public roots plus these CAs) at start-up, which the other cases need not pay.
          ...(kind === 'downstream-api'
            ? [
                DownstreamApiModule.forRoot({
                  apis: {
                    demo: { baseUrl: bases.demo, scopes: authority.apiScope, ca },
                    origin: { baseUrl: bases.origin, scopes: authority.apiScope, ca },
                  },
                }),
              ]
            : []),
          ...(kind === '@nestjs/axios'
            ? [HttpModule.register({ httpsAgent: boundedAgent(ca) })]
            : []),
        ],
      ));
      const tokens = app.get(TokenService);
      const call = caller(kind, app, tokens, bases, ca);
      const tokenRequests = () => authority.countTokenRequests({ clientId: reg.clientId });
      const apiCalls = () =>
        authority.log.filter((e) => e.target === 'api' && e.clientId === reg.clientId).length;
      return {
        tenantId: tenant.tenantId,
        clientId: reg.clientId,
        tokens,
        call,
        tokenRequests,
        apiCalls,
      };
    }

    function caller(
      k: Kind,
      nest: INestApplicationContext,
      tokens: TokenService,
      bases: Record<'demo' | 'origin', string>,
      ca: string[],
    ): (api: 'demo' | 'origin', path: string) => Promise<Answer> {
      if (k === 'fetch') {
        const dispatcher = new Agent({ connections: 16, connect: { ca } });
        closers.push(() => dispatcher.close());
        const fetches = Object.fromEntries(
          (['demo', 'origin'] as const).map((api) => [
            api,
            createAuthenticatedFetch(tokens, {
              baseUrl: bases[api],
              scopes: authority.apiScope,
              fetch: undiciFetch as unknown as FetchFunction,
              dispatcher,
            }),
          ]),
        );
        return async (api, path) => {
          const res = await fetches[api](path);
          return { status: res.status, body: await res.json() };
        };
      }
      if (k === 'axios' || k === '@nestjs/axios') {
        const http = k === 'axios' ? undefined : nest.get(HttpService);
        const instance: AxiosInstance =
          http?.axiosRef ?? axios.create({ httpsAgent: boundedAgent(ca) });
        for (const api of ['demo', 'origin'] as const) {
          const eject = useClientCredentials(instance, tokens, {
            baseUrl: bases[api],
            scopes: authority.apiScope,
          });
          closers.push(async () => eject());
        }
        return async (api, path) => {
          // Joined by axios itself (its `baseURL`), as an app's relative paths are.
          const options = { baseURL: bases[api] };
          try {
            const res = http
              ? await firstValueFrom(http.get(path, options))
              : await instance.get(path, options);
            return { status: res.status, body: res.data };
          } catch (e) {
            const status = (e as { response?: { status: number } }).response?.status;
            if (status === undefined) throw e;
            return { status, error: e };
          }
        };
      }
      return async (api, path) => {
        const client = nest.get<DownstreamApi>(getDownstreamApiToken(api));
        try {
          const result = await client.call('GET', path);
          return {
            status: result.status,
            body: result.body,
            refused: result.refused,
            source: result.token.source,
          };
        } catch (e) {
          if (!(e instanceof DownstreamApiError) || e.status === undefined) throw e;
          return { status: e.status, error: e };
        }
      };
    }

    it('sends the token from the cache: one token request for many calls', async () => {
      const { call, tokenRequests, apiCalls } = await start();
      for (let i = 0; i < 5; i++) {
        const answer = await call('demo', 'data');
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ ok: true });
      }
      expect(tokenRequests()).toBe(1);
      expect(apiCalls()).toBe(5);
    });

    it.each(['invalid_token', 'insufficient_claims'] as const)(
      'a token revoked with %s costs one token request and one re-send',
      async (challenge) => {
        const { tenantId, clientId, call, tokenRequests, apiCalls } = await start();
        expect((await call('demo', 'data')).status).toBe(200);
        await revokeTokens(authority, tenantId, clientId, challenge);
        authority.resetLog();

        const recovered = await call('demo', 'data');
        expect(recovered.status).toBe(200);
        if (kind === 'downstream-api') {
          expect(recovered).toMatchObject({ refused: challenge, source: 'network' });
        }
        expect(tokenRequests()).toBe(1);
        expect(apiCalls()).toBe(2);
        const refused = authority.log.filter((e) => e.target === 'api' && e.status === 401);
        expect(refused).toHaveLength(1);

        // The replacement serves the next calls (after a claims challenge, plain callers get one
        // fresh token without claims: the claims token is never theirs).
        expect((await call('demo', 'data')).status).toBe(200);
        const next = await call('demo', 'data');
        expect(next.status).toBe(200);
        if (kind === 'downstream-api')
          expect(next).toMatchObject({ refused: undefined, source: 'cache' });
        expect(tokenRequests()).toBe(challenge === 'invalid_token' ? 1 : 2);
        expect(apiCalls()).toBe(4);
      },
    );

    it.each(['invalid_token', 'insufficient_claims'] as const)(
      '1,000 concurrent calls across a revocation (%s) send one token request',
      async (challenge) => {
        const { tenantId, clientId, call, tokenRequests, apiCalls } = await start();
        expect((await call('demo', 'data')).status).toBe(200);
        await revokeTokens(authority, tenantId, clientId, challenge);
        authority.resetLog();

        const connections = authority.tlsConnections;

        const answers = await Promise.all(Array.from({ length: 1000 }, () => call('demo', 'data')));

        expect(answers.filter((a) => a.status === 200)).toHaveLength(1000);
        expect(tokenRequests()).toBe(1);
        expect(apiCalls()).toBe(2000);
        // A bounded pool (16) for the API, at most one more for the token request: a burst that
        // opened a connection (and a TLS handshake) per call made this suite take minutes.
        expect(authority.tlsConnections - connections).toBeLessThanOrEqual(17);
      },
      120_000,
    );

    it('a redirect to another origin arrives without Authorization; one on the origin keeps it', async () => {
      const { call } = await start();
      origin.requests.length = 0;
      other.requests.length = 0;

      const away = await call(
        'origin',
        `redirect?to=${encodeURIComponent(`${other.url}/landing`)}`,
      );
      const home = await call(
        'origin',
        `redirect?status=307&to=${encodeURIComponent(`${origin.url}/again`)}`,
      );

      expect(away).toMatchObject({ status: 200, body: { path: '/landing' } });
      expect(home).toMatchObject({ status: 200, body: { path: '/again' } });
      expect(other.requests).toEqual([
        { method: 'GET', path: '/landing', authorization: undefined },
      ]);
      const bearer = expect.stringMatching(/^Bearer ey/);
      expect(origin.requests).toEqual([
        { method: 'GET', path: '/redirect', authorization: bearer },
        { method: 'GET', path: '/redirect', authorization: bearer },
        { method: 'GET', path: '/again', authorization: bearer },
      ]);
    });

    it('a 401 of another origin after a redirect (it never got the token) costs no token request', async () => {
      const { call, tokenRequests } = await start();
      expect((await call('demo', 'data')).status).toBe(200);
      other.requests.length = 0;

      for (let i = 0; i < 5; i++) {
        const answer = await call(
          'origin',
          `redirect?to=${encodeURIComponent(`${other.url}/unauthorized`)}`,
        );
        expect(answer.status).toBe(401);
      }

      expect(tokenRequests()).toBe(1);
      // Each call reached the other origin once, without the token: no re-send.
      expect(other.requests).toHaveLength(5);
      expect(other.requests.every((r) => r.authorization === undefined)).toBe(true);
    });

    it.each([
      ['../payments', '/payments'],
      ['%2e%2e/payments', '/payments'],
      ['data/../../payments', '/payments'],
      // Servlet containers behind a path-routing gateway (Tomcat, Jetty, Spring) read `..;` as `..`.
      ['..;/payments', '/api/..;/payments'],
    ])(
      'a path that leaves the base URL path (%s) is refused before any token request',
      async (path, refused) => {
        const { call, tokenRequests } = await start();
        const logged = authority.log.length;

        await expect(call('demo', path)).rejects.toMatchObject({
          name: 'DownstreamApiError',
          code: 'origin_refused',
          path: refused,
        });

        expect(tokenRequests()).toBe(0);
        expect(authority.log).toHaveLength(logged);
      },
    );

    it('a colon in the first segment is a path (`items:search`); an absolute URL under the base URL path is served (a nextLink), and a named API refuses one elsewhere on its origin', async () => {
      const { call, tokenRequests } = await start();
      expect(await call('origin', 'items:search')).toMatchObject({
        status: 200,
        body: { path: '/items:search' },
      });
      expect((await call('demo', `${authority.apiUrl}/data`)).status).toBe(200);
      if (kind === 'downstream-api') {
        // A path is a path: the orders API's token never reaches /payments through one.
        const logged = authority.log.length;
        await expect(
          call('demo', `${new URL(authority.apiUrl).origin}/payments`),
        ).rejects.toMatchObject({
          code: 'origin_refused',
          path: '/payments',
        });
        expect(authority.log).toHaveLength(logged);
      }
      // Both APIs take the same scope here: one token.
      expect(tokenRequests()).toBe(1);
    });

    it('a 403 insufficient_scope is not retried', async () => {
      const { call, tokenRequests, apiCalls } = await start([]);
      const answer = await call('demo', 'data');
      expect(answer.status).toBe(403);
      if (kind === 'downstream-api') {
        expect(answer.error).toMatchObject({
          code: 'api_forbidden',
          status: 403,
          body: { error: 'insufficient_scope', required_role: 'Data.Read' },
        });
      }
      expect(tokenRequests()).toBe(1);
      expect(apiCalls()).toBe(1);
    });
  },
);
