import { startDevAuthority } from '@app/dev-authority';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import type { CredentialOptions } from '@app/client-credentials';
import {
  localCredential,
  localManagedIdentity,
  startTokenApp,
  type TokenApp,
} from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * Token requests through a corporate proxy (here a real proxy server, npm `proxy`, in a child
 * process that reports each tunnel asked for): a credential's `proxy` sends them through CONNECT
 * tunnels, its `noProxy` hosts go direct; `HTTPS_PROXY` is used for public hosts, never for a
 * loopback authority; managed identity requests (IMDS here) never take a proxy.
 */
describe('Token requests through an HTTPS proxy', () => {
  let http: AuthorityHttp;
  let proxy: ConnectProxy;
  let proxyUrl: string;
  let tunnels: readonly string[];
  const apps: TokenApp[] = [];
  const env = { ...process.env };

  beforeAll(async () => {
    http = new AuthorityHttp(authority);
    proxy = await startConnectProxy();
    ({ url: proxyUrl, tunnels } = proxy);
    Object.assign(process.env, authority.imds.environment);
  });
  afterAll(async () => {
    process.env = env;
    await releaseAll(...apps, http, proxy);
  });

  const settle = () => proxy.settle();

  async function start(
    tenantId: string,
    clientId: string,
    secret: string,
    miClientId: string,
    proxy?: CredentialOptions['proxy'],
  ) {
    const app = await startTokenApp({
      credentials: {
        app: {
          ...localCredential(authority, tenantId, clientId, [{ type: 'secret', secret }]),
          proxy,
        },
        mi: { ...localManagedIdentity(authority, { clientId: miClientId }), proxy },
      },
      defaultCredential: 'app',
    });
    apps.push(app);
    return app.tokens;
  }

  function registration() {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const secret = reg.addSecret();
    const mi = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });
    return { tenantId: tenant.tenantId, clientId: reg.clientId, secret, miClientId: mi.clientId };
  }

  it('the credential proxy: token requests through CONNECT tunnels to the authority; IMDS direct', async () => {
    const r = registration();
    const tokens = await start(r.tenantId, r.clientId, r.secret, r.miClientId, proxyUrl);
    // Managed identity first, while no tunnel is open that a proxied request could reuse.
    const identityToken = await tokens.getAccessToken(authority.apiScope, { credential: 'mi' });
    expect((await http.callApi(authority.apiUrl, identityToken.token)).status).toBe(200);
    expect(authority.countTokenRequests({ target: 'imds', clientId: r.miClientId })).toBe(1);
    await settle();
    expect(tunnels).toEqual([]);

    const first = await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect((await http.callApi(authority.apiUrl, first.token)).status).toBe(200);
    await settle();
    expect(authority.countTokenRequests({ clientId: r.clientId, outcome: 'ok' })).toBe(2);
    // Each tunnel goes to the authority; kept alive, one serves both requests (at most one each).
    expect(tunnels.length).toBeGreaterThanOrEqual(1);
    expect(tunnels.length).toBeLessThanOrEqual(2);
    expect(new Set(tunnels)).toEqual(new Set([authority.host]));
  });

  it('a noProxy host of the credential proxy goes direct', async () => {
    const r = registration();
    const before = tunnels.length;
    const tokens = await start(r.tenantId, r.clientId, r.secret, r.miClientId, {
      url: proxyUrl,
      noProxy: ['127.0.0.1'],
    });
    await tokens.getAccessToken(authority.apiScope);
    await settle();
    expect(authority.countTokenRequests({ clientId: r.clientId, outcome: 'ok' })).toBe(1);
    expect(tunnels).toHaveLength(before);
  });

  it('HTTPS_PROXY: used for the outside world, never for a loopback authority nor IMDS', async () => {
    process.env.HTTPS_PROXY = proxyUrl;
    delete process.env.NO_PROXY;
    try {
      const r = registration();
      const before = tunnels.length;
      const tokens = await start(r.tenantId, r.clientId, r.secret, r.miClientId);
      await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope, { credential: 'mi' });
      await settle();
      expect(authority.countTokenRequests({ clientId: r.clientId, outcome: 'ok' })).toBe(1);
      expect(tunnels).toHaveLength(before);

      // A public authority goes through the proxy (which refuses it here: nothing leaves loopback).
      const outside = await startTokenApp({
        credentials: {
          entra: {
            tenantId: r.tenantId,
            clientId: r.clientId,
            sources: [{ type: 'secret', secret: r.secret }],
          },
        },
        retry: { maxAttempts: 1 },
      });
      apps.push(outside);
      await expect(outside.tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
        transient: true,
      });
      await settle();
      expect(tunnels.slice(before)).toEqual(['login.microsoftonline.com:443']);
    } finally {
      delete process.env.HTTPS_PROXY;
    }
  });
});
