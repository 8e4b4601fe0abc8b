import type { INestApplicationContext } from '@nestjs/common';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { TokenService } from '@app/client-credentials';
import { createAuthenticatedFetch, type FetchFunction } from '@app/client-credentials/calling';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp } from '../support/token-app';
import { createTestPki, RecordingServer, type TestPki } from './recording-server';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
const [authority, api] = useFixtures(startDevAuthority, () => RecordingServer.start(pki));

/**
 * One hold-off for every kind of refusal: an API that answers every call with a claims challenge
 * (claims that differ each time) gets no more tokens than one that refuses every token with
 * `invalid_token` — not a claims token per call, each kept in memory.
 */
describe('claims challenges and the refusal hold-off', () => {
  let app: INestApplicationContext;
  let dispatcher: Agent;
  let clientId: string;

  beforeAll(async () => {
    dispatcher = new Agent({ connect: { ca: [authority.caPem, pki.caPem] } });
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    clientId = reg.clientId;
    ({ app } = await startTokenApp({
      credentials: {
        main: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
    }));
  });
  afterAll(() => releaseAll(app, dispatcher));

  it('40 calls answered with new claims each time cost 3 token requests, not one per call', async () => {
    const fetch = createAuthenticatedFetch(app.get(TokenService), {
      baseUrl: api.url,
      scopes: authority.apiScope,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
    });
    const statuses: number[] = [];
    for (let call = 0; call < 40; call++) {
      const res = await fetch('/challenge-every-time');
      await res.arrayBuffer();
      statuses.push(res.status);
    }

    // The first token, refused: one claims token (its re-send refused too); then the next plain
    // token, refused at once — held off: no claims token for it, nor a new token for later calls.
    expect(statuses.every((s) => s === 401)).toBe(true);
    expect(authority.countTokenRequests({ clientId })).toBe(3);
    // 40 calls, and one re-send (with the one claims token).
    expect(api.requests.filter((r) => r.path === '/challenge-every-time')).toHaveLength(41);
  });

  it('an API naming a revocation "now" in every challenge gets one such answer per hold-off, not one per call', async () => {
    const before = authority.countTokenRequests({ clientId });
    const fetch = createAuthenticatedFetch(app.get(TokenService), {
      baseUrl: api.url,
      scopes: authority.apiScope,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
    });
    for (let call = 0; call < 40; call++) {
      const res = await fetch('/challenge-now');
      await res.arrayBuffer();
      expect(res.status).toBe(401);
    }

    // Within the hold-off (10 s), a revocation after the token is answered once: at most a
    // plain token and a claims token for it, past the first refusal's two.
    expect(authority.countTokenRequests({ clientId }) - before).toBeLessThanOrEqual(5);
  });
});
