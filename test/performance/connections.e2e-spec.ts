import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import tls from 'node:tls';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

/** TLS connections undici opens, as its diagnostics channel reports them. */
function connectionCounter() {
  let count = 0;
  const onConnect = () => count++;
  subscribe('undici:client:connected', onConnect);
  return { count: () => count, stop: () => unsubscribe('undici:client:connected', onConnect) };
}

const [authority] = useFixtures(startDevAuthority);

/**
 * A burst of token requests to one authority shares one bounded, kept-alive pool, and a private
 * CA costs one TLS secure context, not one per connection (each is ~20 ms of blocking CPU).
 */
describe('Connections to the authority', () => {
  let app: TokenApp | undefined;

  afterAll(async () => {
    await app?.close();
  });

  it('a burst of 500 token requests opens at most the pool size and builds the CA context once', async () => {
    const home = authority.createTenant();
    const reg = home.createApp();
    const secret = reg.addSecret();
    const tenants = [home, ...Array.from({ length: 499 }, () => authority.createTenant())];
    for (const t of tenants.slice(1)) t.createApp({ clientId: reg.clientId, secret });
    const contexts = jest.spyOn(tls, 'createSecureContext');
    const connections = connectionCounter();
    try {
      // Two credentials with the same CA: they share the pool too.
      app = await startTokenApp({
        credentials: {
          a: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
          b: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
        },
        defaultCredential: 'a',
        // 500 requests queue on 16 connections: on a loaded machine the last ones wait seconds for
        // a connection, and a request deadline passed in the queue would be retried (counted twice).
        timeouts: { requestMs: 120_000, acquireMs: 300_000 },
      });
      const tokens = await Promise.all(
        tenants.map((t, i) =>
          app!.tokens.getAccessToken(authority.apiScope, {
            tenantId: t.tenantId,
            credential: i % 2 === 0 ? 'a' : 'b',
          }),
        ),
      );

      expect(tokens).toHaveLength(500);
      expect(authority.countTokenRequests({ clientId: reg.clientId, outcome: 'ok' })).toBe(500);
      expect(connections.count()).toBeGreaterThan(0);
      expect(connections.count()).toBeLessThanOrEqual(16);
      // The library's one context for this CA (the authority's own server side builds none per request).
      const withCa = contexts.mock.calls.filter(([o]) => o?.ca !== undefined);
      expect(withCa).toHaveLength(1);
    } finally {
      connections.stop();
      contexts.mockRestore();
    }
  });
});
