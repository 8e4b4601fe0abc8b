import { startDevAuthority } from '@app/dev-authority';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { sleep } from '../support/waiting';

const [authority] = useFixtures(startDevAuthority);

/**
 * Tokens that come due together are refreshed a few at a time, and a caller's miss does not wait
 * behind them: it reaches the authority while most of the storm is still queued. Judged by the
 * authority's request log (arrival order), not by durations.
 */
describe('Refresh storms', () => {
  let app: TokenApp | undefined;

  afterAll(async () => {
    await releaseAll(app);
  });

  it('a miss during a storm of 100 due tokens reaches the authority ahead of the queued refreshes', async () => {
    const LATENCY_MS = 200;
    const home = authority.createTenant();
    const reg = home.createApp();
    const secret = reg.addSecret();
    const tenants = [home, ...Array.from({ length: 99 }, () => authority.createTenant())];
    const late = authority.createTenant();
    for (const t of [...tenants, late]) {
      if (t !== home) t.createApp({ clientId: reg.clientId, secret });
      authority.setAccessTokenLifetime(30, { tenantId: t.tenantId, refreshInSeconds: 3 });
    }
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, home.tenantId, reg.clientId, [{ type: 'secret', secret }]),
      },
      refresh: { jitter: 0 },
    });
    const get = (tenantId: string) => app!.tokens.getAccessToken(authority.apiScope, { tenantId });
    const first = await Promise.all(tenants.map((t) => get(t.tenantId)));
    await Promise.all(tenants.map((t) => get(t.tenantId))); // in use: worth refreshing
    authority.faults.add({ target: 'token', kind: 'latency', latencyMs: LATENCY_MS });

    // The storm begins at the earliest refresh point; the miss comes a little after.
    const start = Math.min(...first.map((t) => t.refreshOn!.getTime()));
    await sleep(start - Date.now() + 300);
    const missed = await get(late.tenantId);
    expect(missed.source).toBe('network');
    const stormTenants = new Set(tenants.map((t) => t.tenantId.toLowerCase()));
    await (async () => {
      while (app.tokens.getStats().refreshes < tenants.length) await sleep(50);
    })();

    const log = authority.log.filter((e) => e.target === 'token' && e.at.getTime() >= start - 50);
    const storm = log.filter((e) => stormTenants.has(e.tenantId!));
    const miss = log.find((e) => e.tenantId === late.tenantId.toLowerCase())!;
    const arrivedBefore = storm.filter((e) => e.at < miss.at).length;
    const doneBefore = storm.filter((e) => e.at.getTime() + LATENCY_MS <= miss.at.getTime()).length;

    expect(storm).toHaveLength(tenants.length); // each token refreshed once
    // In flight when the miss arrived: at most the refresh concurrency (8), never the whole pool.
    expect(arrivedBefore - doneBefore).toBeLessThanOrEqual(8);
    // And the storm was still queued behind it.
    expect(storm.filter((e) => e.at > miss.at).length).toBeGreaterThan(0);
  });
});
