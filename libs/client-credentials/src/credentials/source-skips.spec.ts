import { TokenMetrics } from '../observability/token-metrics';
import { EVERY_TENANT, SourceSkips } from './source-skips';

const S = 1000;
const COOL_DOWN = 10 * S;

describe('SourceSkips', () => {
  let metrics: TokenMetrics;
  let skips: SourceSkips;
  let logs: { warn: string[]; debug: string[]; log: string[] };

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    metrics = new TokenMetrics();
    logs = { warn: [], debug: [], log: [] };
    const logger = {
      log: (m: string) => logs.log.push(m),
      warn: (m: string) => logs.warn.push(m),
      debug: (m: string) => logs.debug.push(m),
      error() {},
    };
    skips = new SourceSkips(
      'api',
      'home',
      COOL_DOWN,
      (i) => `secret#${i}`,
      metrics.of('api'),
      metrics,
      logger,
    );
  });

  afterEach(() => jest.useRealTimers());

  it('passes a source over for one tenant, or for every tenant: the later end wins', () => {
    const now = Date.now();
    skips.skip(0, 'customer', 'rejected');

    expect(skips.until(0, 'customer')).toBe(now + COOL_DOWN);
    expect(skips.until(0, 'home')).toBe(0);
    expect(skips.until(1, 'customer')).toBe(0);

    jest.advanceTimersByTime(S);
    skips.skip(0, EVERY_TENANT, 'file missing');

    expect(skips.until(0, 'home')).toBe(now + S + COOL_DOWN);
    expect(skips.until(0, 'customer')).toBe(now + S + COOL_DOWN);
  });

  it('doubles the cool-down per skip, up to 32 times', () => {
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      skips.skip(0, 'home', 'rejected');
      seen.push((skips.until(0, 'home') - Date.now()) / COOL_DOWN);
    }
    expect(seen).toEqual([1, 2, 4, 8, 16, 32, 32, 32]);
  });

  it('warns of the first skip, then quietly; says when the source works again', () => {
    skips.skip(0, 'home', 'rejected');
    skips.skip(0, 'home', 'rejected');
    skips.skip(0, 'customer', 'rejected');

    expect(logs.warn).toEqual([
      "Credential 'api': source 'secret#0' skipped, moving on to the next; tried again in 10 s. rejected",
      "Credential 'api': source 'secret#0' skipped for tenant customer, moving on to the next; tried again in 10 s. rejected",
    ]);
    expect(logs.debug).toEqual([
      "Credential 'api': source 'secret#0' skipped, moving on to the next; tried again in 20 s. rejected",
    ]);

    skips.worksAgain(0, 'home');
    skips.worksAgain(0, 'home'); // not skipped any more: nothing to say

    expect(logs.log).toEqual(["Credential 'api': source 'secret#0' works again."]);
    expect(skips.until(0, 'home')).toBe(0);
    // Only for that tenant (and every tenant): another tenant's skip stays.
    expect(skips.until(0, 'customer')).toBeGreaterThan(Date.now());
  });

  it('clears the every-tenant skip of a source that works in any tenant', () => {
    skips.skip(1, EVERY_TENANT, 'file missing');

    skips.worksAgain(1, 'customer');

    expect(skips.until(1, 'home')).toBe(0);
    // Its next skip starts over.
    skips.skip(1, EVERY_TENANT, 'file missing');
    expect(skips.until(1, 'home') - Date.now()).toBe(COOL_DOWN);
  });

  it('shows the skips in the stats: the credential’s and every tenant’s, another tenant’s apart', () => {
    const stats = metrics.of('api');
    skips.skip(0, EVERY_TENANT, 'file missing');
    skips.skip(1, 'home', 'rejected');
    skips.skip(1, 'customer', 'rejected');

    expect(stats.skippedSources).toEqual({
      'secret#0': { reason: 'file missing', until: new Date(Date.now() + COOL_DOWN) },
      'secret#1': { reason: 'rejected', until: new Date(Date.now() + COOL_DOWN) },
    });
    expect(Object.keys(stats.tenants?.customer?.skippedSources ?? {})).toEqual(['secret#1']);

    skips.worksAgain(1, 'customer');

    expect(stats.tenants?.customer?.skippedSources).toBeUndefined();
    // The credential's own are untouched by another tenant's success.
    expect(Object.keys(stats.skippedSources!).sort()).toEqual(['secret#0', 'secret#1']);
  });

  it('forgets another tenant’s skips once they ended long ago (64 cool-downs), never the home’s', () => {
    skips.skip(0, 'customer', 'rejected');
    skips.skip(0, 'customer', 'rejected'); // count 2: a next skip would last 4 cool-downs
    skips.skip(0, 'home', 'rejected');
    const ended = skips.until(0, 'customer');

    jest.advanceTimersByTime(ended + 64 * COOL_DOWN - Date.now());
    skips.skip(0, 'customer', 'rejected');
    skips.skip(0, 'home', 'rejected');

    // Ended exactly 64 cool-downs ago: customer's count was kept (a third skip: 4 cool-downs).
    expect(skips.until(0, 'customer') - Date.now()).toBe(4 * COOL_DOWN);
    // Ended more than 64 cool-downs ago: forgotten, the next skip is a first one.
    jest.advanceTimersByTime(skips.until(0, 'customer') + 64 * COOL_DOWN + 1 - Date.now());
    skips.skip(0, 'customer', 'rejected');
    expect(skips.until(0, 'customer') - Date.now()).toBe(COOL_DOWN);
    // The home tenant's count is never forgotten: its third skip.
    skips.skip(0, 'home', 'rejected');
    expect(skips.until(0, 'home') - Date.now()).toBe(4 * COOL_DOWN);
  });
});
