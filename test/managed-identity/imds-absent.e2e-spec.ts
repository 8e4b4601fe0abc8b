import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startDevAuthority } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * Off Azure, IMDS's address swallows packets: a request neither connects nor fails, it hangs.
 * Here "IMDS" is a loopback server that accepts connections and never answers (counting what it
 * gets), reached through `AZURE_POD_IDENTITY_AUTHORITY_HOST` — never 169.254.169.254. A chain
 * must fall past it after one request bounded by `timeouts.managedIdentityMs`, not after msal's
 * or the token path's retries (users report tens of seconds elsewhere).
 */
describe('A chain falls past an absent IMDS within the managed identity timeout', () => {
  let http: AuthorityHttp;
  let app: TokenApp | undefined;
  let silent: Server;
  const sockets = new Set<Socket>();
  let connections = 0;
  let requests = 0;
  const env = { ...process.env };

  beforeAll(async () => {
    http = new AuthorityHttp(authority);
    silent = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('data', (chunk) => {
        if (/^GET \/metadata\/identity\/oauth2\/token/m.test(chunk.toString('latin1'))) requests++;
      });
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    process.env = env;
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await releaseAll(app, http);
  });

  it('one IMDS request, then the next source; later calls skip IMDS during its cool-down', async () => {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          // Keyless on Azure (the VM's identity as the app's federated credential), a secret elsewhere.
          { type: 'managed-identity-assertion' },
          { type: 'secret', secret: reg.addSecret() },
        ]),
      },
      timeouts: { managedIdentityMs: 300 },
    });

    const token = await app.tokens.getAccessToken(authority.apiScope);
    expect((await http.callApi(authority.apiUrl, token.token)).status).toBe(200);
    expect(requests).toBe(1);
    expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(1);
    const stats = app.tokens.getStats('api');
    expect(stats.managedIdentityHost).toBe('imds');
    expect(stats.skippedSources?.['managed-identity-assertion#0']?.reason).toContain(
      'within 300 ms',
    );

    // The skipped source is not even connected to.
    const opened = connections;
    await app.tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(requests).toBe(1);
    expect(connections).toBe(opened);
    expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(2);
  });
});
