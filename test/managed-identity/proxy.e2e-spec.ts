import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startDevAuthority, type DevAuthority } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

/**
 * Token requests through a corporate proxy: `HTTPS_PROXY` sends them through CONNECT tunnels
 * (here a real proxy server, npm `proxy`, in a child process that reports each tunnel), a
 * `NO_PROXY` host goes direct, and managed identity requests (IMDS here) never take the proxy.
 */
describe('Token requests through an HTTPS proxy', () => {
  let authority: DevAuthority;
  let http: AuthorityHttp;
  let proxy: ChildProcess;
  let proxyUrl: string;
  const tunnels: string[] = [];
  const apps: TokenApp[] = [];
  const env = { ...process.env };

  beforeAll(async () => {
    authority = await startDevAuthority();
    http = new AuthorityHttp(authority);
    proxy = fork(join(__dirname, 'connect-proxy.mjs'), { stdio: 'inherit' });
    const port = await new Promise<number>((resolve, reject) => {
      proxy.once('error', reject);
      proxy.on('message', (m: { port?: number; tunnel?: string }) => {
        if (m.port !== undefined) resolve(m.port);
        if (m.tunnel !== undefined) tunnels.push(m.tunnel);
      });
    });
    proxyUrl = `http://127.0.0.1:${port}`;
    Object.assign(process.env, authority.imds.environment);
  });
  afterAll(async () => {
    process.env = env;
    await releaseAll(...apps, http, authority);
    if (proxy.exitCode === null) {
      const exited = new Promise((resolve) => proxy.once('exit', resolve));
      proxy.send('stop');
      await exited;
    }
  });

  /** Lets the child's IPC messages for tunnels opened so far arrive. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  async function start(tenantId: string, clientId: string, secret: string, miClientId: string) {
    const app = await startTokenApp({
      credentials: {
        app: localCredential(authority, tenantId, clientId, [{ type: 'secret', secret }]),
        mi: {
          authorityHost: authority.url,
          ca: authority.caPem,
          sources: [{ type: 'managed-identity', clientId: miClientId }],
        },
      },
      defaultCredential: 'app',
    });
    apps.push(app);
    return app.tokens;
  }

  it('HTTPS_PROXY: token requests through CONNECT tunnels to the authority; IMDS direct; NO_PROXY direct', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const secret = reg.addSecret();
    const mi = authority.createManagedIdentity({ tenantId: tenant.tenantId, kind: 'user' });

    process.env.HTTPS_PROXY = proxyUrl;
    delete process.env.NO_PROXY;
    const proxied = await start(tenant.tenantId, reg.clientId, secret, mi.clientId);
    // Managed identity first, while no tunnel is open that a proxied request could reuse.
    const identityToken = await proxied.getAccessToken(authority.apiScope, { credential: 'mi' });
    expect((await http.callApi(authority.apiUrl, identityToken.token)).status).toBe(200);
    expect(authority.countTokenRequests({ target: 'imds', clientId: mi.clientId })).toBe(1);
    await settle();
    expect(tunnels).toEqual([]);

    const first = await proxied.getAccessToken(authority.apiScope);
    await proxied.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect((await http.callApi(authority.apiUrl, first.token)).status).toBe(200);
    await settle();
    expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(2);
    // Each tunnel goes to the authority, at most one per token request.
    const opened = tunnels.length;
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);
    expect(new Set(tunnels)).toEqual(new Set([authority.host]));

    process.env.NO_PROXY = '127.0.0.1';
    const bypassing = await start(tenant.tenantId, reg.clientId, secret, mi.clientId);
    await bypassing.getAccessToken(authority.apiScope, { forceRefresh: true });
    await settle();
    expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(3);
    expect(tunnels).toHaveLength(opened);
  });
});
