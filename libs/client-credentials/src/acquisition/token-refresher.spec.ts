import type { CachedEntry, StoredToken } from '../cache/cached-entry';
import { TokenCache } from '../cache/token-cache';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import { TokenEndpointError } from '../errors/client-credentials.errors';
import { RefreshHeld } from '../shared-cache/refresh-held';
import type { TokenPolicy } from '../options/resolved-options';
import type { TokenAcquirer } from './token-acquirer';
import { REFRESH_CONCURRENCY, TokenRefresher } from './token-refresher';
import { TokenMetrics } from '../observability/token-metrics';
import type { TokenRefreshEvent } from '../client-credentials.events';

const S = 1000;
const MIN = 60 * S;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (setImmediate is not faked). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

const credential = {
  name: 'api',
  key: 'api',
  stats: { cacheHits: 0 },
  storeKeys: (tenantId: string, scopeKey: string) => [`k|${tenantId}|${scopeKey}`],
  boundThumbprint: () => undefined,
} as unknown as Credential;

/** One token per name: the name is the tenant. */
const request = (name: string): TokenRequest => ({
  credential,
  tenantId: name,
  scopes: ['api://x/.default'],
  scopeKey: 'api://x/.default',
});

interface Call {
  readonly entry: CachedEntry;
  readonly at: number;
  readonly answer: Deferred<CachedEntry>;
  settled: boolean;
}

/** The refresher's view of the acquirer: `refresh` answers when the test says. */
class FakeAcquirer {
  onCurrent: (entry: CachedEntry) => void = () => undefined;
  readonly calls: Call[] = [];
  /** When set, every refresh fails at once with it. */
  failWith?: () => Error;

  refresh(entry: CachedEntry): Promise<CachedEntry> {
    const answer = deferred<CachedEntry>();
    const call: Call = { entry, at: Date.now(), answer, settled: false };
    answer.promise.then(
      () => (call.settled = true),
      () => (call.settled = true),
    );
    this.calls.push(call);
    if (this.failWith) answer.reject(this.failWith());
    return answer.promise;
  }

  /** What the refresher calls: {@link refresh}, never adopted from a store. */
  async refreshed(entry: CachedEntry): Promise<{ entry: CachedEntry; adopted: boolean }> {
    return { entry: await this.refresh(entry), adopted: false };
  }

  get running(): number {
    return this.calls.filter((c) => !c.settled).length;
  }
}

const policy: TokenPolicy = {
  maxEntries: 1000,
  refresh: { refreshAt: 0.5, jitter: 0, expirySkewSeconds: 0 },
  retry: {
    maxAttempts: 3,
    initialDelayMs: 1000,
    maxDelayMs: 30_000,
    maxRetryAfterMs: 60_000,
    sourceCoolDownMs: 60_000,
  },
  timeouts: { requestMs: 10_000, acquireMs: 30_000, managedIdentityMs: 5_000 },
};

const transient = (retryAfterMs?: number) =>
  new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', { retryAfterMs }, true);

describe('TokenRefresher', () => {
  let cache: TokenCache;
  let acquirer: FakeAcquirer;
  let refresher: TokenRefresher;
  let metrics: TokenMetrics;
  let logs: { warn: string[]; debug: string[]; log: string[] };
  let start: number;

  /** A token of `name` made current (as the acquirer does), refreshed `refreshInMs` from now. */
  async function current(
    name: string,
    { refreshInMs = 30 * MIN, lifetimeMs = 60 * MIN, hits = 0 } = {},
  ): Promise<CachedEntry> {
    const now = Date.now();
    const stored: StoredToken = {
      v: 1,
      token: `${name}@${now}`,
      tokenType: 'Bearer',
      obtainedAt: now,
      expiresOn: now + lifetimeMs,
      refreshOn: now + refreshInMs,
      scopes: ['api://x/.default'],
      tenantId: name,
      source: 'secret#0',
    };
    const entry = await cache.write(request(name), `k|${name}`, stored);
    entry.hits = hits;
    acquirer.onCurrent(entry);
    return entry;
  }

  /** Answers a refresh as the real acquirer does: a new token of the same request, made current. */
  async function succeed(call: Call, options?: Parameters<typeof current>[1]): Promise<void> {
    const next = await current(call.entry.tenantId, options);
    call.answer.resolve(next);
    await flush();
  }

  const names = (calls: readonly Call[]) => calls.map((c) => c.entry.tenantId);

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    // Backoff jitter at its lowest: half the ceiling, exactly (1 s → 500 ms, 1 s, 2 s…).
    jest.spyOn(Math, 'random').mockReturnValue(0);
    start = Date.now();
    logs = { warn: [], debug: [], log: [] };
    const logger = {
      log: (m: string) => logs.log.push(m),
      warn: (m: string) => logs.warn.push(m),
      debug: (m: string) => logs.debug.push(m),
      error() {},
    };
    cache = new TokenCache(undefined, 1000, 0, 0, logger);
    acquirer = new FakeAcquirer();
    metrics = new TokenMetrics();
    refresher = new TokenRefresher(
      acquirer as unknown as TokenAcquirer,
      cache,
      policy,
      logger,
      metrics,
    );
  });

  afterEach(() => {
    refresher.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  describe('when', () => {
    it('refreshes a used token at its refresh point, and leaves an unused one to expire', async () => {
      const used = await current('used', { hits: 1 });
      await current('unused');

      await jest.advanceTimersByTimeAsync(30 * MIN - 1);
      expect(acquirer.calls).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(acquirer.calls.map((c) => c.entry)).toEqual([used]);

      // Its successor, used too, is refreshed at its own refresh point.
      await succeed(acquirer.calls[0], { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      expect(names(acquirer.calls)).toEqual(['used', 'used']);
      expect(acquirer.calls[1].at - start).toBe(60 * MIN);
      // The unused one never was, to its expiry and beyond.
      await jest.advanceTimersByTimeAsync(120 * MIN);
      expect(names(acquirer.calls)).not.toContain('unused');
    });

    it('refreshes a token hit past its refresh point, once while it runs', async () => {
      const entry = await current('late');
      await jest.advanceTimersByTimeAsync(40 * MIN);
      expect(acquirer.calls).toHaveLength(0);

      // The hit path: a cache hit past the refresh point reports the entry as due; the refresh
      // starts on a turn of its own, not inside the caller's call.
      expect(cache.serve(entry, ['api://x/.default'])?.token).toBe(entry.token);
      expect(acquirer.calls).toHaveLength(0);
      await flush();
      expect(acquirer.calls.map((c) => c.entry)).toEqual([entry]);
      // Hit again, or reported again, while its refresh runs: not a second one.
      expect(cache.serve(entry, ['api://x/.default'])?.token).toBe(entry.token);
      refresher.refresh(entry);
      await flush();
      expect(acquirer.calls).toHaveLength(1);
    });
  });

  describe('while the shared cache cannot be used', () => {
    it('holds a refresh quietly and tries it again after 250 ms, 500 ms, 1 s, 2 s, 2 s…, at once when Redis is back', async () => {
      await current('held', { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      expect(acquirer.calls).toHaveLength(1);

      // Math.random is 0: each delay is 0.8 of its nominal value.
      const retries: number[] = [];
      for (let i = 0; i < 5; i++) {
        acquirer.calls.at(-1)!.answer.reject(new RefreshHeld(Infinity));
        await flush();
        const before = acquirer.calls.length;
        while (acquirer.calls.length === before) await jest.advanceTimersByTimeAsync(10);
        retries.push(acquirer.calls.at(-1)!.at - acquirer.calls.at(-2)!.at);
      }
      expect(retries).toEqual([200, 400, 800, 1600, 1600]);

      // Back: the held refresh goes now, not after 1.6 s.
      acquirer.calls.at(-1)!.answer.reject(new RefreshHeld(Infinity));
      await flush();
      const before = acquirer.calls.length;
      refresher.wake();
      await jest.advanceTimersByTimeAsync(1);
      expect(acquirer.calls).toHaveLength(before + 1);
      await succeed(acquirer.calls.at(-1)!);
      // Nothing failed: nothing to warn about.
      expect(logs.warn).toEqual([]);
    });

    it('tries again no later than the end of the hold, however long the delay has grown', async () => {
      await current('held-until', { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      for (let i = 0; i < 4; i++) {
        acquirer.calls.at(-1)!.answer.reject(new RefreshHeld(Infinity));
        await flush();
        const before = acquirer.calls.length;
        while (acquirer.calls.length === before) await jest.advanceTimersByTimeAsync(10);
      }
      // The next delay would be 1.6 s; the hold ends in 300 ms: tried then, to fetch for itself.
      const last = acquirer.calls.at(-1)!;
      last.answer.reject(new RefreshHeld(last.at + 300));
      await flush();
      const before = acquirer.calls.length;
      while (acquirer.calls.length === before) await jest.advanceTimersByTimeAsync(10);
      expect(acquirer.calls.at(-1)!.at - last.at).toBeLessThanOrEqual(310);
    });
  });

  describe('how many at once', () => {
    it(`runs at most REFRESH_CONCURRENCY (${REFRESH_CONCURRENCY}) refreshes; the rest start in order, oldest first`, async () => {
      const count = REFRESH_CONCURRENCY + 5;
      const order = Array.from({ length: count }, (_, i) => `t${String(i).padStart(2, '0')}`);
      // Made current in a shuffled order, due in name order (1 ms apart).
      for (const i of [...order.keys()].sort((a, b) => ((a * 7) % count) - ((b * 7) % count))) {
        await current(order[i], { refreshInMs: 10 * MIN + i, hits: 1 });
      }

      await jest.advanceTimersByTimeAsync(11 * MIN);
      expect(names(acquirer.calls)).toEqual(order.slice(0, REFRESH_CONCURRENCY));
      expect(acquirer.running).toBe(REFRESH_CONCURRENCY);

      // Slots free up in any order; the queue starts the next one each time.
      let peak = 0;
      for (const i of [3, 0, 7, 1, 2, 4, 5, 6, 8, 9, 10, 11, 12]) {
        const call = acquirer.calls[i];
        if (i % 2 === 0) await succeed(call);
        else {
          call.answer.reject(transient());
          await flush();
        }
        peak = Math.max(peak, acquirer.running);
      }
      expect(peak).toBeLessThanOrEqual(REFRESH_CONCURRENCY);
      expect(names(acquirer.calls).slice(0, count)).toEqual(order);
    });

    it('starts one refresh per turn of the event loop: a storm runs in short slices', async () => {
      for (let i = 0; i < REFRESH_CONCURRENCY; i++) {
        await current(`s${i}`, { refreshInMs: 10 * MIN, hits: 1 });
      }
      // All due in one turn of the timer: none starts inside it.
      jest.advanceTimersByTime(10 * MIN);
      expect(acquirer.calls).toHaveLength(0);
      const perTurn: number[] = [];
      while (acquirer.calls.length < REFRESH_CONCURRENCY) {
        const before = acquirer.calls.length;
        await new Promise((r) => setImmediate(r));
        perTurn.push(acquirer.calls.length - before);
      }
      expect(Math.max(...perTurn)).toBe(1);
      // A completion does not start the next one in its own slice either.
      await current('next', { refreshInMs: 10 * MIN, hits: 1 });
      jest.advanceTimersByTime(10 * MIN);
      await new Promise((r) => setImmediate(r));
      const first = acquirer.calls[0];
      first.answer.resolve(await current(first.entry.tenantId));
      for (let i = 0; i < 10; i++) await Promise.resolve();
      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);
      await flush();
      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY + 1);
    });

    it('queues a retry behind the refreshes already waiting', async () => {
      for (let i = 0; i <= REFRESH_CONCURRENCY; i++) {
        await current(`t${i}`, { refreshInMs: 10 * MIN + i, hits: 1 });
      }
      await jest.advanceTimersByTimeAsync(11 * MIN);
      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);

      // t0 fails: t8 takes its slot; t0's retry (in 500 ms) waits for the next free one.
      acquirer.calls[0].answer.reject(transient());
      await flush();
      expect(names(acquirer.calls).slice(REFRESH_CONCURRENCY)).toEqual([`t${REFRESH_CONCURRENCY}`]);
      await jest.advanceTimersByTimeAsync(500);
      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY + 1);

      await succeed(acquirer.calls[1]);
      expect(names(acquirer.calls).slice(REFRESH_CONCURRENCY)).toEqual([
        `t${REFRESH_CONCURRENCY}`,
        't0',
      ]);
    });
  });

  describe('events', () => {
    /** The events of type `refresh` while the test runs. */
    function refreshEvents(): TokenRefreshEvent[] {
      const seen: TokenRefreshEvent[] = [];
      metrics.events.listen({
        wants: (type) => type === 'refresh',
        next: (e) => seen.push(e as TokenRefreshEvent),
      });
      return seen;
    }

    it("tells each attempt's outcome: the failure, when the next attempt starts, then the success", async () => {
      const seen = refreshEvents();
      await current('flaky', { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      acquirer.calls[0].answer.reject(transient());
      await flush();

      expect(seen).toEqual([
        {
          type: 'refresh',
          at: new Date(Date.now()),
          credential: 'api',
          tenantId: 'flaky',
          scopes: ['api://x/.default'],
          outcome: 'failed',
          previousFailures: 0,
          error: {
            code: 'endpoint_unavailable',
            message: expect.stringContaining('HTTP 503.') as string,
            transient: true,
          },
          servedUntil: new Date(start + 60 * MIN),
          willRetry: true,
          // The backoff of a first failure, jitter at its lowest: 500 ms.
          retryAt: new Date(Date.now() + 500),
        },
      ]);
      expect(Object.isFrozen(seen[0])).toBe(true);

      await jest.advanceTimersByTimeAsync(500);
      await succeed(acquirer.calls[1]);
      expect(seen[1]).toMatchObject({
        outcome: 'refreshed',
        previousFailures: 1,
        expiresOn: new Date(Date.now() + 60 * MIN),
      });
      expect(seen[1].error).toBeUndefined();
      expect(seen).toHaveLength(2);
    });

    it('says when no time is left to retry', async () => {
      const seen = refreshEvents();
      acquirer.failWith = () => transient(40 * S);
      await current('late', { refreshInMs: 80 * S, lifetimeMs: 100 * S, hits: 1 });
      await jest.advanceTimersByTimeAsync(80 * S);
      expect(seen.map((e) => [e.outcome, e.willRetry, e.retryAt])).toEqual([
        ['failed', false, undefined],
      ]);
    });

    it('builds no event while nobody listens', async () => {
      const emit = jest.spyOn(metrics.events, 'emit');
      acquirer.failWith = () => transient();
      await current('quiet', { refreshInMs: 50 * S, lifetimeMs: 100 * S, hits: 1 });
      await jest.advanceTimersByTimeAsync(60 * S);
      expect(acquirer.calls.length).toBeGreaterThan(1);
      expect(emit).not.toHaveBeenCalled();
    });
  });

  describe('failures', () => {
    it('retries with backoff until the token stops being served, then gives up', async () => {
      acquirer.failWith = () => transient();
      const entry = await current('failing', {
        refreshInMs: 50 * S,
        lifetimeMs: 100 * S,
        hits: 1,
      });

      await jest.advanceTimersByTimeAsync(200 * S);

      const times = acquirer.calls.map((c) => c.at - start);
      // Half of 1 s · 2^n (jitter at its lowest), capped at half of 30 s…
      expect(times.slice(0, 8)).toEqual([
        50_000, 50_500, 51_500, 53_500, 57_500, 65_500, 80_500, 95_500,
      ]);
      // … then cut short, halfway to the end each time, while more than 50 ms are left.
      expect(times.every((t) => t < entry.usableUntil - start)).toBe(true);
      expect(times[times.length - 1]).toBeGreaterThan(entry.usableUntil - start - 100);
      // One warning when it starts failing, one when it gives up; the rest quietly.
      expect(logs.warn).toHaveLength(2);
      expect(logs.warn[1]).toContain('No time left to retry.');
      expect(logs.debug).toHaveLength(times.length - 2);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('waits as long as Retry-After says, and gives up when that outlasts the token', async () => {
      let retryAfterMs = 20 * S;
      acquirer.failWith = () => transient(retryAfterMs);
      await current('throttled', { refreshInMs: 50 * S, lifetimeMs: 100 * S, hits: 1 });

      await jest.advanceTimersByTimeAsync(50 * S);
      expect(acquirer.calls).toHaveLength(1);
      retryAfterMs = 40 * S;
      await jest.advanceTimersByTimeAsync(20 * S - 1);
      expect(acquirer.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(acquirer.calls).toHaveLength(2);

      // 30 s left, 40 s asked: no attempt against the authority's word.
      await jest.advanceTimersByTimeAsync(100 * S);
      expect(acquirer.calls).toHaveLength(2);
      expect(logs.warn[logs.warn.length - 1]).toContain('No time left to retry.');
    });

    it('logs a success after failures', async () => {
      await current('flaky', { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      acquirer.calls[0].answer.reject(transient());
      await jest.advanceTimersByTimeAsync(500);
      await succeed(acquirer.calls[1]);

      expect(logs.log).toEqual(["Token of credential 'api' refreshed after 1 failed attempt(s)."]);
    });
  });

  describe('entries no longer current', () => {
    it('drops a queued refresh of an entry replaced before its turn', async () => {
      for (let i = 0; i <= REFRESH_CONCURRENCY; i++) {
        await current(`t${i}`, { refreshInMs: 10 * MIN + i, hits: 1 });
      }
      await jest.advanceTimersByTimeAsync(11 * MIN);
      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);

      // The last one, queued, is replaced (a caller's forced call, say).
      const replacement = await current(`t${REFRESH_CONCURRENCY}`, { hits: 1 });
      await succeed(acquirer.calls[0]);

      expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);
      // Its replacement is refreshed at its own refresh point.
      await jest.advanceTimersByTimeAsync(30 * MIN);
      expect(acquirer.calls.map((c) => c.entry)).toContain(replacement);
    });

    it('does not retry the failed refresh of an entry replaced meanwhile', async () => {
      await current('a', { hits: 1 });
      await jest.advanceTimersByTimeAsync(30 * MIN);
      await current('a');

      acquirer.calls[0].answer.reject(transient());
      await jest.advanceTimersByTimeAsync(10 * MIN);

      expect(acquirer.calls).toHaveLength(1);
      expect(logs.warn[0]).toContain('memory no longer holds that token');
    });

    it('unschedules an entry replaced or forgotten before its refresh point', async () => {
      const first = await current('a', { hits: 1 });
      const second = await current('a', { refreshInMs: 40 * MIN, hits: 1 });
      await current('b', { hits: 1 });
      cache.clear();

      await jest.advanceTimersByTimeAsync(60 * MIN);

      expect(acquirer.calls).toHaveLength(0);
      expect(first.slot).toBe(-1);
      expect(second.slot).toBe(-1);
      // A stale entry reported due (or made current late) is not refreshed.
      refresher.refresh(first);
      acquirer.onCurrent(first);
      await jest.advanceTimersByTimeAsync(60 * MIN);
      expect(acquirer.calls).toHaveLength(0);
    });
  });

  it('close() stops everything: the schedule, the queue, retries', async () => {
    for (let i = 0; i <= REFRESH_CONCURRENCY; i++) {
      await current(`t${i}`, { refreshInMs: 10 * MIN + i, hits: 1 });
    }
    const later = await current('later', { hits: 1 });
    await jest.advanceTimersByTimeAsync(11 * MIN);
    expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);

    refresher.close();
    expect(jest.getTimerCount()).toBe(0);
    // A refresh that fails now is not retried, and the queued one never starts.
    acquirer.calls[0].answer.reject(transient());
    await succeed(acquirer.calls[1]);
    refresher.refresh(later);
    acquirer.onCurrent(later);
    await jest.advanceTimersByTimeAsync(120 * MIN);

    expect(acquirer.calls).toHaveLength(REFRESH_CONCURRENCY);
    expect(jest.getTimerCount()).toBe(0);
  });
});
