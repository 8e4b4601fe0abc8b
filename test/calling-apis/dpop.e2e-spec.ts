import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import axios from 'axios';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { TokenService } from '@app/client-credentials';
import {
  createAuthenticatedFetch,
  createTokenCredential,
  type FetchFunction,
} from '@app/client-credentials/calling';
import { useClientCredentials } from '@app/client-credentials/calling/axios';
import { DownstreamApiModule, DownstreamApis } from '@app/client-credentials/downstream-api';
import { startOidcAuthority, type OidcAuthority } from '../support/oidc-authority';
import { startDpopResource, type DpopResource } from '../support/dpop-resource';
import { startTokenApp, type TokenApp } from '../support/token-app';
import { releaseAll } from '../support/fixtures';

const SECRET = 'a-long-client-secret-value-0123456789';

/**
 * DPoP (RFC 9449) end to end: oidc-provider (a certified authorization server, DPoP on, its nonce
 * required) binds the tokens to the credential's key; a resource server verifying tokens and
 * proofs with oauth4webapi accepts them through every integration, and refuses a stolen token.
 */
describe('DPoP-bound tokens, from the token endpoint to the API call', () => {
  let oidc: OidcAuthority;
  let api: DpopResource;
  let app: TokenApp;
  let dispatcher: Agent;
  const ofClient = (id: string) => oidc.requests.filter((r) => r.clientId === id);

  beforeAll(async () => {
    oidc = await startOidcAuthority(
      ['dpop-client', 'ps-client'].map((client_id) => ({
        client_id,
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_post' as const,
        dpop_bound_access_tokens: true,
      })),
      { dpop: { nonce: true, algorithms: ['ES256', 'PS256'] } },
    );
    api = await startDpopResource(oidc);
    const common = {
      authorityHost: oidc.authorityHost,
      tenantId: oidc.tenant,
      protocol: 'oidc' as const,
      ca: oidc.caPem,
      sources: [{ type: 'secret' as const, secret: SECRET }],
    };
    app = await startTokenApp(
      {
        isGlobal: true,
        defaultCredential: 'dpop',
        credentials: {
          dpop: { ...common, clientId: 'dpop-client', dpop: true },
          ps: { ...common, clientId: 'ps-client', dpop: { algorithm: 'PS256' } },
        },
      },
      [
        DownstreamApiModule.forRoot({
          apis: { orders: { baseUrl: api.baseUrl, scopes: oidc.scope, ca: api.caPem } },
        }),
      ],
    );
    dispatcher = new Agent({ connections: 16, connect: { ca: [api.caPem] } });
  });
  afterAll(() => releaseAll(app, dispatcher, api, oidc));

  const orders = (credential?: string) =>
    createAuthenticatedFetch(app.tokens, {
      baseUrl: api.baseUrl,
      scopes: oidc.scope,
      credential,
      fetch: undiciFetch as unknown as FetchFunction,
      dispatcher,
    });

  it('gets a DPoP token: a proof per request, the authority nonce asked once and then reused', async () => {
    const token = await app.tokens.getAccessToken(oidc.scope);
    expect(token.tokenType).toBe('DPoP');
    // The first request had no nonce: use_dpop_nonce, then the same request with it.
    expect(ofClient('dpop-client').map((r) => r.ok)).toEqual([false, true]);
    expect(ofClient('dpop-client')[0].error).toMatch(/nonce/);
    const jkt = (app.tokens.toJSON().credentials as Record<string, { dpop: { jkt: string } }>).dpop
      .dpop.jkt;
    expect(decodeJwt(token.token).cnf).toEqual({ jkt });

    const again = await app.tokens.getAccessToken(oidc.scope, { forceRefresh: true });
    expect(again.token).not.toBe(token.token);
    // Its nonce is still good: one request, no refusal.
    expect(ofClient('dpop-client').map((r) => r.ok)).toEqual([false, true, true]);
    const proofs = oidc.proofs.slice(-3).map((p) => decodeJwt(p!));
    expect(new Set(proofs.map((p) => p.jti)).size).toBe(3);
    expect(proofs.map((p) => p.htm)).toEqual(['POST', 'POST', 'POST']);
    expect(proofs.map((p) => p.htu)).toEqual([
      oidc.tokenEndpoint,
      oidc.tokenEndpoint,
      oidc.tokenEndpoint,
    ]);
    expect(proofs.map((p) => p.nonce === undefined)).toEqual([true, false, false]);
  });

  it('calls the API through fetch with a fresh proof per request, PS256 too', async () => {
    for (const credential of ['dpop', 'ps']) {
      const res = await orders(credential)('items?top=1');
      expect(res.status).toBe(200);
      await expect(res.json()).resolves.toMatchObject({ ok: true });
      const second = await orders(credential)('items?top=2');
      expect(second.status).toBe(200);
      await second.body?.cancel();
    }
    expect(api.requests.filter((r) => r.status !== 200)).toEqual([]);
  });

  it('refuses a stolen token: as a bearer, with a proof of another key, or with a replayed proof', async () => {
    const token = await app.tokens.getAccessToken(oidc.scope);
    const url = `${api.baseUrl}/items`;
    const send = (headers: Record<string, string>) =>
      undiciFetch(url, { headers, dispatcher }).then((r) => r.status);

    expect(await send({ authorization: `Bearer ${token.token}` })).toBe(401);
    // The thief's own key: a valid proof, but not of the key the token is bound to.
    const thief = await generateKeyPair('ES256');
    const forged = await new SignJWT({
      jti: randomUUID(),
      htm: 'GET',
      htu: url,
      ath: Buffer.from(
        await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token.token)),
      ).toString('base64url'),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(thief.publicKey) })
      .setIssuedAt()
      .sign(thief.privateKey);
    expect(await send({ authorization: `DPoP ${token.token}`, dpop: forged })).toBe(401);
    // A proof copied from a request the API accepted: its jti was used.
    const copied = app.tokens.requestHeaders(token, { method: 'GET', url });
    expect(await send({ ...copied })).toBe(200);
    expect(await send({ ...copied })).toBe(401);
    // A proof of another URL of the API.
    const other = app.tokens.requestHeaders(token, { method: 'GET', url: `${api.baseUrl}/admin` });
    expect(await send({ ...other })).toBe(401);
  });

  it('follows a nonce rotation at the API: each call in flight re-sent once, no token request', async () => {
    const fetchOrders = orders();
    await (await fetchOrders('warm')).body?.cancel();
    const tokenRequests = oidc.requests.length;
    const before = api.requests.length;
    api.rotateNonce();
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fetchOrders(`items/${i}`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }),
      ),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    const seen = api.requests.slice(before);
    expect(seen.filter((r) => r.status === 200)).toHaveLength(200);
    const retried = seen.filter((r) => r.error === 'nonce').length;
    expect(retried).toBeGreaterThan(0);
    expect(retried).toBeLessThanOrEqual(200);
    expect(oidc.requests.length).toBe(tokenRequests);
    // Later calls carry the new nonce from the start.
    const after = api.requests.length;
    await (await fetchOrders('later')).body?.cancel();
    expect(api.requests.slice(after)).toEqual([expect.objectContaining({ status: 200 })]);
  });

  it('signs the nonce a 303 rotated on the GET it leads to: one POST, nothing refused', async () => {
    const fetchOrders = orders();
    await (await fetchOrders('warm')).body?.cancel();
    const before = api.requests.length;

    const res = await fetchOrders('orders', { method: 'POST', body: '{"item":"book"}' });

    expect(res.status).toBe(200);
    // Before: the GET's proof had the old nonce, and its use_dpop_nonce re-sent the POST.
    expect(api.requests.slice(before).map((r) => r.status)).toEqual([303, 200]);
  });

  it('calls through axios and a downstream API with proofs, across another rotation', async () => {
    const instance = axios.create({
      httpsAgent: new https.Agent({ ca: api.caPem, keepAlive: false }),
    });
    useClientCredentials(instance, app.tokens, { baseUrl: api.baseUrl, scopes: oidc.scope });
    api.rotateNonce();
    const res = await instance.post(`${api.baseUrl}/items`, { a: 1 });
    expect(res.data).toMatchObject({ ok: true });
    const downstream = app.app.get(DownstreamApis).get('orders');
    await expect(downstream.get('items')).resolves.toMatchObject({ ok: true });
    api.rotateNonce();
    await expect(downstream.get('items')).resolves.toMatchObject({ ok: true });
  });

  it('reports an API that never accepts its own nonce after one re-send, with a hint about the proof', async () => {
    const before = api.requests.length;
    const downstream = app.app.get(DownstreamApis).get('orders');
    const refused = await downstream.get('nonce-forever').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'api_unauthorized', status: 401 });
    expect((refused as Error).message).toContain('401 use_dpop_nonce');
    expect((refused as { hint: string }).hint).toMatch(/DPoP proof.*clock.*proxy/);
    expect((refused as { hint: string }).hint).not.toMatch(/scope/);
    expect(api.requests.slice(before).map((r) => r.error)).toEqual(['nonce', 'nonce']);
  });

  it('refuses to hand a bound token to a bearer-only path, before any token request', async () => {
    const count = oidc.requests.length;
    await expect(app.tokens.getAuthorizationHeader(oidc.scope)).rejects.toMatchObject({
      code: 'proof_required',
    });
    const credential = createTokenCredential(app.tokens, { credential: 'ps' });
    await expect(credential.getToken(oidc.scope)).rejects.toMatchObject({
      code: 'proof_required',
    });
    expect(app.tokens.tokenBinding('ps')).toBe('dpop');
    expect(oidc.requests.length).toBe(count);
    // Nothing of the key in what a log or debugger shows.
    expect(JSON.stringify(app.tokens)).not.toMatch(/"d"|PRIVATE/);
    expect(app.app.get(TokenService)).toBe(app.tokens);
  });
});
