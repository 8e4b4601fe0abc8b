import { FAULTS, runCampaign, toMarkdown } from '../../scripts/chaos/campaign';

/**
 * The fault campaign of `npm run chaos`, short: two daemon processes sharing Redis, three faults
 * (a 503 burst, Redis killed and restarted, a daemon SIGKILLed and restarted). No run fails while
 * a valid token exists, and no expired token reaches the API.
 */
describe('Fault campaign (short)', () => {
  it('fails no worker run while a valid token exists and uses no expired token', async () => {
    const result = await runCampaign({
      daemons: 2,
      faults: [FAULTS.burst503, FAULTS.redis, FAULTS.daemonKill],
      lifetimeSeconds: 20,
      refreshInSeconds: 8,
      gapMs: 3_000,
    });
    const table = toMarkdown(result);
    expect({ table, unexpected: result.unexpected }).toMatchObject({ unexpected: [] });
    expect({ table, zeros: [result.failedWhileValid, result.api401] }).toMatchObject({
      zeros: [0, 0],
    });
    expect(result.apiCalls).toBeGreaterThan(0);
    expect({ table, failed: result.faults.map((f) => f.failedRuns) }).toMatchObject({
      failed: [0, 0, 0],
    });
    // Shared cache and background refresh: a few token requests per lifetime for the whole fleet.
    for (const q of Object.values(result.requestsPerLifetime))
      expect(q.perLifetime).toBeLessThan(4);
  }, 60_000);
});
