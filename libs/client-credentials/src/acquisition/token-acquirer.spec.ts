import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { AccessToken } from '../access-token';
import type { StoredToken } from '../cache/cached-entry';
import { TokenCache } from '../cache/token-cache';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import {
  ClientCredentialsError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../errors/client-credentials.errors';
import type { TokenPolicy } from '../options/resolved-options';
import { TokenAcquirer } from './token-acquirer';
import { TokenRefresher } from './token-refresher';
import { TokenMetrics } from '../observability/token-metrics';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import type { CrossProcessFlight } from '../shared-cache/cross-process-flight';
import { RefreshHeld } from '../shared-cache/refresh-held';

const HOUR = 3_600_000;
const silent = { log() {}, warn() {}, debug() {}, error() {} };

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

/** What a promise came to, readable at any time: no rejection is ever left unhandled. */
interface Outcome<T> {
  settled: boolean;
  value?: T;
  error?: ClientCredentialsError;
}

function track<T>(promise: Promise<T>): Outcome<T> {
  const outcome: Outcome<T> = { settled: false };
  promise.then(
    (value) => Object.assign(outcome, { settled: true, value }),
    (error: ClientCredentialsError) => Object.assign(outcome, { settled: true, error }),
  );
  return outcome;
}

/** Lets every pending promise callback run (setImmediate is not faked). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** A step of the fake credential's script: a token, a failure, or an answer the test gives later. */
type Step = string | Error | Deferred<string>;

/** The acquirer's view of a credential: a name, store keys, and `fetch` playing a script. */
class FakeCredential {
  readonly name = 'api';
  readonly key = 'api';
  readonly stats = { cacheHits: 0, storeHits: 0, refreshes: 0 };
  readonly calls: { tenantId: string; refused?: string }[] = [];
  readonly successes: string[] = [];
  readonly script: Step[] = [];

  storeKeys(tenantId: string, scopeKey: string): string[] {
    return [`k|${tenantId}|${scopeKey}`];
  }

  boundThumbprint(): string | undefined {
    return undefined;
  }

  sourceId(index: number): string {
    return `secret#${index}`;
  }

  recordSuccess(tenantId: string): void {
    this.successes.push(tenantId);
  }

  async fetch(tenantId: string, _scopes: readonly string[], _claims?: string, refused?: string) {
    this.calls.push({ tenantId, refused });
    const step = this.script.shift() ?? `token-${this.calls.length}`;
    if (step instanceof Error) throw step;
    const token = typeof step === 'string' ? step : await step.promise;
    return { issued: { token, tokenType: 'bearer', expiresOn: Date.now() + HOUR }, index: 0 };
  }
}

const transient = (retryAfterMs?: number) =>
  new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', { retryAfterMs }, true);
const rejected = () =>
  new TokenRequestRejectedError('request_rejected', 'AADSTS500011.', { status: 400 });

function policy(overrides: { acquireMs?: number; maxAttempts?: number } = {}): TokenPolicy {
  return {
    maxEntries: 100,
    refresh: { refreshAt: 0.5, jitter: 0, expirySkewSeconds: 120 },
    retry: {
      maxAttempts: overrides.maxAttempts ?? 3,
      initialDelayMs: 200,
      maxDelayMs: 30_000,
      maxRetryAfterMs: 60_000,
      sourceCoolDownMs: 60_000,
    },
    timeouts: {
      requestMs: 10_000,
      acquireMs: overrides.acquireMs ?? 30_000,
      managedIdentityMs: 5_000,
    },
  };
}

describe('TokenAcquirer', () => {
  let credential: FakeCredential;
  let store: Cache | undefined;
  let cache: TokenCache;
  let acquirer: TokenAcquirer;
  let current: string[];
  let metrics: TokenMetrics;

  const request = (tenantId = 't1', scope = 'api://x/.default'): TokenRequest => ({
    credential: credential as unknown as Credential,
    tenantId,
    scopes: [scope],
    scopeKey: scope,
  });

  /** A token as another replica would have written it to the store. */
  async function storeToken(token: string, r = request(), obtainedAt = Date.now()): Promise<void> {
    const stored: StoredToken = {
      v: 1,
      token,
      tokenType: 'Bearer',
      obtainedAt,
      expiresOn: obtainedAt + HOUR,
      refreshOn: obtainedAt + HOUR / 2,
      scopes: r.scopes,
      tenantId: r.tenantId,
      source: 'secret#0',
    };
    await store!.set(credential.storeKeys(r.tenantId, r.scopeKey)[0], stored, HOUR);
  }

  function build(options: { store?: boolean; policy?: TokenPolicy } = {}): void {
    store = options.store ? createCache({ stores: [new Keyv()] }) : undefined;
    cache = new TokenCache(store, 100, 120_000, 0, silent);
    metrics = new TokenMetrics();
    acquirer = new TokenAcquirer(cache, options.policy ?? policy(), silent, undefined, metrics);
    current = [];
    acquirer.onCurrent = (entry) => current.push(entry.token);
  }

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    // Backoff jitter at its lowest: half the ceiling, exactly (200 ms → 100, 200, 400…).
    jest.spyOn(Math, 'random').mockReturnValue(0);
    credential = new FakeCredential();
    build();
  });

  afterEach(() => {
    acquirer.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  describe('single flight', () => {
    it('sends one token request for any number of concurrent callers of one token', async () => {
      const answer = deferred<string>();
      credential.script.push(answer);

      const callers = Array.from({ length: 10 }, () => track(acquirer.acquire(request(), false)));
      await flush();
      expect(credential.calls).toHaveLength(1);
      expect(callers.some((c) => c.settled)).toBe(false);

      answer.resolve('T1');
      await flush();

      expect(callers.map((c) => c.value?.token)).toEqual(Array(10).fill('T1'));
      expect(callers[0].value?.source).toBe('network');
      expect(current).toEqual(['T1']);
      // The next caller is served from memory.
      const next = await acquirer.acquire(request(), false);
      expect(next.token).toBe('T1');
      expect(credential.calls).toHaveLength(1);
    });

    it('sends one request per distinct token (tenant, scopes)', async () => {
      const tokens = await Promise.all([
        acquirer.acquire(request('t1'), false),
        acquirer.acquire(request('t2'), false),
        acquirer.acquire(request('t1', 'api://y/.default'), false),
        acquirer.acquire(request('t1'), false),
      ]);

      expect(credential.calls.map((c) => c.tenantId)).toEqual(['t1', 't2', 't1']);
      expect(new Set(tokens.map((t) => t.token)).size).toBe(3);
      expect(tokens[3].token).toBe(tokens[0].token);
    });

    it('does not join a forced call to a plain flight, but forced calls to each other', async () => {
      const first = deferred<string>();
      const second = deferred<string>();
      credential.script.push(first, second);

      const plain = track(acquirer.acquire(request(), false));
      const forced = track(acquirer.acquire(request(), true));
      const forcedToo = track(acquirer.acquire(request(), true));
      await flush();
      expect(credential.calls).toHaveLength(2);

      first.resolve('X');
      second.resolve('Y');
      await flush();
      expect(forcedToo.value?.token).toBe(forced.value?.token);
      expect(plain.value?.token).not.toBe(forced.value?.token);
      expect([plain.value?.token, forced.value?.token].sort()).toEqual(['X', 'Y']);
    });

    it('skips memory and the store for a forced call', async () => {
      build({ store: true });
      await storeToken('STORED');
      expect((await acquirer.acquire(request(), false)).token).toBe('STORED');

      const forced = await acquirer.acquire(request(), true);

      expect(forced.token).toBe('token-1');
      expect(credential.calls).toHaveLength(1);
      expect(cache.entryOf(request())?.token).toBe('token-1');
    });
  });

  describe('the store first', () => {
    it('adopts a usable token of the store without a token request', async () => {
      build({ store: true });
      await storeToken('STORED', request(), Date.now() - 60_000);

      const token = await acquirer.acquire(request(), false);

      expect(token.token).toBe('STORED');
      expect(credential.calls).toHaveLength(0);
      expect(credential.stats.storeHits).toBe(1);
      expect(credential.successes).toEqual(['t1']);
      expect(cache.entryOf(request())?.token).toBe('STORED');
      expect(current).toEqual(['STORED']);
    });

    it('asks the authority when the stored token is no longer usable (within the expiry skew)', async () => {
      build({ store: true });
      // Obtained 59 minutes ago: expires in one, within the 2 min skew.
      await storeToken('OLD', request(), Date.now() - HOUR + 60_000);

      const token = await acquirer.acquire(request(), false);

      expect(token.token).toBe('token-1');
      expect(credential.calls).toHaveLength(1);
    });
  });

  describe('retries', () => {
    it('retries a transient failure with backoff', async () => {
      credential.script.push(transient(), transient(), 'T');

      const caller = track(acquirer.acquire(request(), false));
      await flush();
      expect(credential.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(99);
      expect(credential.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1); // 100 ms: half of 200
      expect(credential.calls).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(199);
      expect(credential.calls).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(1); // 200 ms more: half of 400
      expect(credential.calls).toHaveLength(3);

      expect(caller.value?.token).toBe('T');
    });

    it('waits as long as Retry-After says before retrying', async () => {
      credential.script.push(transient(5000), 'T');

      const caller = track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(4999);
      expect(credential.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);

      expect(credential.calls).toHaveLength(2);
      expect(caller.value?.token).toBe('T');
    });

    it('gives up after retry.maxAttempts with the last failure', async () => {
      const last = transient();
      credential.script.push(transient(), transient(), last, 'never');

      const caller = track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(10_000);

      expect(credential.calls).toHaveLength(3);
      expect(caller.error).toBe(last);
    });

    it('does not retry a failure that is not transient', async () => {
      const error = rejected();
      credential.script.push(error, 'never');

      const caller = track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(10_000);

      expect(credential.calls).toHaveLength(1);
      expect(caller.error).toBe(error);
    });

    it('does not wait for a retry past timeouts.acquireMs: the failure at once', async () => {
      build({ policy: policy({ acquireMs: 1000 }) });
      const error = transient(2000);
      credential.script.push(error, 'never');

      const caller = track(acquirer.acquire(request(), false));
      await flush();

      expect(caller.error).toBe(error);
      expect(credential.calls).toHaveLength(1);
    });

    it('adopts a token another replica stored while it waited to retry', async () => {
      build({ store: true });
      credential.script.push(transient(1000), 'never');

      const caller = track(acquirer.acquire(request(), false));
      await flush();
      await storeToken('REPLICA');
      await jest.advanceTimersByTimeAsync(1000);

      expect(caller.value?.token).toBe('REPLICA');
      expect(credential.calls).toHaveLength(1);
    });
  });

  describe('cool-down', () => {
    it('fails callers fast with the same error after a failure, until it ends', async () => {
      const error = rejected();
      credential.script.push(error);
      const first = track(acquirer.acquire(request(), false));
      await flush();
      expect(first.error).toBe(error);

      await jest.advanceTimersByTimeAsync(99);
      const during = track(acquirer.acquire(request(), false));
      const forced = track(acquirer.acquire(request(), true));
      await flush();
      expect(during.error).toBe(error);
      expect(forced.error).toBe(error);
      expect(credential.calls).toHaveLength(1);
      // Another token does not cool down.
      expect((await acquirer.acquire(request('t2'), false)).token).toBe('token-2');

      await jest.advanceTimersByTimeAsync(1);
      expect((await acquirer.acquire(request(), false)).token).toBe('token-3');
    });

    it('grows with failures in a row', async () => {
      credential.script.push(rejected(), rejected());
      track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(100);
      const second = track(acquirer.acquire(request(), false));
      await flush();
      expect(second.error?.code).toBe('request_rejected');
      expect(credential.calls).toHaveLength(2);

      await jest.advanceTimersByTimeAsync(199);
      const during = track(acquirer.acquire(request(), false));
      await flush();
      expect(during.error?.code).toBe('request_rejected');
      expect(credential.calls).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(1);
      expect((await acquirer.acquire(request(), false)).token).toBe('token-3');
    });

    it('is ended by a success (a background refresh)', async () => {
      const first = await acquirer.acquire(request(), false);
      expect(first.token).toBe('token-1');
      const error = rejected();
      credential.script.push(error);
      const failing = track(acquirer.acquire(request(), true));
      await flush();
      expect(failing.error).toBe(error);
      const cooling = track(acquirer.acquire(request(), true));
      await flush();
      expect(cooling.error).toBe(error);
      expect(credential.calls).toHaveLength(2);

      const refreshed = await acquirer.refresh(cache.entryOf(request())!);
      expect(refreshed.token).toBe('token-3');
      expect(credential.stats.refreshes).toBe(1);

      // No cool-down left: a forced call asks at once.
      expect((await acquirer.acquire(request(), true)).token).toBe('token-4');
    });
  });

  describe('refused tokens', () => {
    it('forget: memory stops serving the token at once, and the store never answers with it', async () => {
      build({ store: true });
      expect((await acquirer.acquire(request(), false)).token).toBe('token-1');
      const held = cache.entryOf(request())!;
      expect(cache.serve(held, request().scopes)?.token).toBe('token-1');

      expect(acquirer.forget(request(), 'token-1')).toBe(true);

      expect(cache.serve(cache.entryOf(request()), request().scopes)).toBeUndefined();
      // The store still holds token-1 (written by the first fetch): not served.
      const next = await acquirer.acquire(request(), false);
      expect(next.token).toBe('token-2');
      // The source is told which token not to answer with.
      expect(credential.calls).toEqual([
        { tenantId: 't1', refused: undefined },
        { tenantId: 't1', refused: 'token-1' },
      ]);
    });

    it('replace: a new token, and a replacement refused at once held off 10 s, then 20 s', async () => {
      expect((await acquirer.acquire(request(), false)).token).toBe('token-1');

      expect((await acquirer.replace(request(), 'token-1'))?.token).toBe('token-2');
      // token-2 refused at once: no new token would help.
      expect(await acquirer.replace(request(), 'token-2')).toBeUndefined();
      expect(credential.calls).toHaveLength(2);
      // Still served: nothing was forgotten.
      expect(cache.serve(cache.entryOf(request()), request().scopes)?.token).toBe('token-2');

      await jest.advanceTimersByTimeAsync(9_999);
      expect(await acquirer.replace(request(), 'token-2')).toBeUndefined();
      await jest.advanceTimersByTimeAsync(1);
      expect((await acquirer.replace(request(), 'token-2'))?.token).toBe('token-3');

      // Refused at once again: twice as long.
      await jest.advanceTimersByTimeAsync(19_999);
      expect(await acquirer.replace(request(), 'token-3')).toBeUndefined();
      await jest.advanceTimersByTimeAsync(1);
      expect((await acquirer.replace(request(), 'token-3'))?.token).toBe('token-4');
      expect(credential.calls).toHaveLength(4);
    });

    it('asks once more, naming it, when the token refused meanwhile comes back from the request', async () => {
      const answer = deferred<string>();
      credential.script.push(answer);
      const caller = track(acquirer.acquire(request(), false));
      await flush();

      // The API refuses token-A while the request that will answer with it is under way.
      const replacement = track(acquirer.replace(request(), 'token-A'));
      answer.resolve('token-A');
      await flush();

      expect(credential.calls).toEqual([
        { tenantId: 't1', refused: undefined },
        { tenantId: 't1', refused: 'token-A' },
      ]);
      expect(replacement.value?.token).toBe('token-2');
      expect(caller.value?.token).toBe('token-2');
      expect(current).toEqual(['token-2']);
    });

    it('replace waits no longer than timeouts.acquireMs in all, however many flights it takes', async () => {
      const answer = deferred<string>();
      credential.script.push(answer, 'token-A', deferred<string>());
      const caller = track(acquirer.acquire(request(), false));
      await flush();
      const replacement = track(acquirer.replace(request(), 'token-A'));
      await jest.advanceTimersByTimeAsync(20_000);
      // The endpoint answers with the refused token, named or not (an IMDS that cannot be told):
      // the flight the replacement joined gives it back, and the replacement goes once more.
      answer.resolve('token-A');
      await flush();
      expect(caller.value?.token).toBe('token-A');
      expect(credential.calls).toHaveLength(3);

      await jest.advanceTimersByTimeAsync(9_999);
      expect(replacement.settled).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(replacement.error?.code).toBe('timeout');
      expect(replacement.error?.message).toContain('within 30000 ms');
    });

    it('never adopts from the store a token older than the refused one', async () => {
      build({ store: true });
      expect((await acquirer.acquire(request(), false)).token).toBe('token-1');
      // Another replica's copy of an older token.
      await jest.advanceTimersByTimeAsync(1000);
      acquirer.forget(request(), 'token-1');
      await storeToken('OLDER', request(), Date.now() - 2000);

      expect((await acquirer.acquire(request(), false)).token).toBe('token-2');

      // A newer one is adopted (past the hold-off of token-2, a replacement refused).
      await jest.advanceTimersByTimeAsync(10_000);
      expect(acquirer.forget(request(), 'token-2')).toBe(true);
      await storeToken('NEWER');
      expect((await acquirer.acquire(request(), false)).token).toBe('NEWER');
      expect(credential.calls).toHaveLength(2);
    });
  });

  describe('callers that stop waiting', () => {
    it('lets a caller abort while the flight goes on for the others', async () => {
      const answer = deferred<string>();
      credential.script.push(answer);
      const controller = new AbortController();

      const leaving = track(acquirer.acquire(request(), false, controller.signal));
      const staying = track(acquirer.acquire(request(), false));
      await flush();
      controller.abort();
      await flush();

      expect(leaving.error?.code).toBe('aborted');
      expect(staying.settled).toBe(false);
      answer.resolve('T');
      await flush();
      expect(staying.value?.token).toBe('T');
      expect(credential.calls).toHaveLength(1);
    });

    it('starts nothing for a caller that aborted already', async () => {
      const controller = new AbortController();
      controller.abort();

      const caller = track(acquirer.acquire(request(), false, controller.signal));
      await flush();

      expect(caller.error?.code).toBe('aborted');
      expect(credential.calls).toHaveLength(0);
    });

    it('waits no longer than timeouts.acquireMs; the token then arrives for the next caller', async () => {
      build({ policy: policy({ acquireMs: 1000 }) });
      const answer = deferred<string>();
      credential.script.push(answer);

      const caller = track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(999);
      expect(caller.settled).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(caller.error).toBeInstanceOf(TokenEndpointError);
      expect(caller.error?.code).toBe('timeout');

      answer.resolve('LATE');
      await flush();
      expect((await acquirer.acquire(request(), false)).token).toBe('LATE');
      expect(credential.calls).toHaveLength(1);
    });
  });

  describe('refresh', () => {
    it('replaces the entry when a hit past its refresh point starts it (with TokenRefresher)', async () => {
      const refresher = new TokenRefresher(acquirer, cache, policy(), silent);
      await acquirer.acquire(request(), false);
      const entry = cache.entryOf(request())!;
      await jest.advanceTimersByTimeAsync(entry.refreshAt - Date.now());

      expect(cache.serve(entry, request().scopes)?.token).toBe('token-1');
      await flush();

      expect(credential.calls).toHaveLength(2);
      expect(cache.entryOf(request())?.token).toBe('token-2');
      refresher.close();
    });

    // `refresh` joins a caller's flight under way for the request key; a plain flight whose
    // `load` found the current entry usable in memory (a caller that asked for the same scopes
    // another way) answers with that very entry: the refresh must still ask for a newer token,
    // else TokenRefresher took it as done and the entry, marked `refreshing` and out of the
    // schedule, was never refreshed again (found by this spec).
    it('a refresh joining a plain flight that answered with the entry it was to replace still refreshes', async () => {
      const refresher = new TokenRefresher(acquirer, cache, policy(), silent);
      await acquirer.acquire(request(), false);
      const entry = cache.entryOf(request())!;
      await jest.advanceTimersByTimeAsync(entry.refreshAt - Date.now());
      expect(credential.calls).toHaveLength(1);

      // In one tick: a caller whose lookup missed (its flight finds the entry in memory), and a
      // hit past the refresh point, which starts the background refresh.
      const miss = track(acquirer.acquire(request(), false));
      expect(cache.serve(entry, request().scopes)?.token).toBe('token-1');
      await flush();
      expect(miss.value?.token).toBe('token-1');

      // The refresh must have asked for a new token, and the cache must now hold it.
      expect(credential.calls).toHaveLength(2);
      expect(cache.entryOf(request())).not.toBe(entry);
      refresher.close();
    });

    // The same, when another caller's flight starts in the few microtasks between the end of the
    // joined one and the refresh looking again: it too answers with the entry from memory.
    it.each([0, 1, 2, 3, 4])(
      'a refresh that finds a second caller flight answering with its entry still refreshes (%i microtasks after the first)',
      async (ticks) => {
        const refresher = new TokenRefresher(acquirer, cache, policy(), silent);
        await acquirer.acquire(request(), false);
        const entry = cache.entryOf(request())!;
        await jest.advanceTimersByTimeAsync(entry.refreshAt - Date.now());
        // A caller flight starts `ticks` microtasks after the first leaves the flights: a
        // deterministic stand-in for a caller arriving in that window.
        const flights = Reflect.get(acquirer, 'flights') as Map<string, unknown>;
        const leave = flights.delete.bind(flights);
        let second: Outcome<AccessToken> | undefined;
        flights.delete = (key: string) => {
          const left = leave(key);
          let later = Promise.resolve();
          for (let i = 0; i < ticks; i++) later = later.then(() => undefined);
          second ??= track(later.then(() => acquirer.acquire(request(), false)));
          return left;
        };
        const first = track(acquirer.acquire(request(), false));
        const refresh = track(acquirer.refreshed(entry));
        await flush();

        expect([first.value?.token, second?.value?.token]).toEqual(['token-1', 'token-1']);
        expect(refresh.value?.entry.token).toBe('token-2');
        expect(credential.calls).toHaveLength(2);
        expect(cache.entryOf(request())?.token).toBe('token-2');
        refresher.close();
      },
    );

    it('a caller that joined a refresh held for Redis gets its token in a flight of its own', async () => {
      // The shared cache's flight while Redis is away: a refresh waits (RefreshHeld), a caller
      // (no holdUntil) fetches.
      const gate = deferred<void>();
      const flight = {
        run: async (
          _name: string,
          _poll: unknown,
          fetch: () => Promise<unknown>,
          _signal: AbortSignal,
          _until: number,
          holdUntil = -Infinity,
        ) => {
          await gate.promise;
          if (Date.now() < holdUntil) throw new RefreshHeld(holdUntil);
          return fetch();
        },
      } as unknown as CrossProcessFlight;
      acquirer = new TokenAcquirer(cache, policy(), silent, flight);
      gate.resolve();
      await acquirer.acquire(request(), false);
      const held = cache.entryOf(request())!;
      await jest.advanceTimersByTimeAsync(held.refreshAt - Date.now());

      const refresh = track(acquirer.refresh(held));
      // An API refused the token meanwhile: the caller misses, and joins the refresh's flight.
      expect(acquirer.forget(request(), held.token)).toBe(true);
      const caller = track(acquirer.acquire(request(), false));
      await flush();

      expect(refresh.error).toBeInstanceOf(RefreshHeld);
      expect(caller.value?.token).toBe('token-2');
      expect(credential.calls).toHaveLength(2);
    });

    it('makes one attempt, no retry', async () => {
      await acquirer.acquire(request(), false);
      const error = transient();
      credential.script.push(error, 'never');

      const refresh = track(acquirer.refresh(cache.entryOf(request())!));
      await jest.advanceTimersByTimeAsync(10_000);

      expect(refresh.error).toBe(error);
      expect(credential.calls).toHaveLength(2);
    });

    it('adopts a newer token of the store instead of asking', async () => {
      build({ store: true });
      await acquirer.acquire(request(), false);
      const old = cache.entryOf(request())!;
      await jest.advanceTimersByTimeAsync(60_000);
      await storeToken('NEWER');

      const refreshed = await acquirer.refresh(old);

      expect(refreshed.token).toBe('NEWER');
      expect(cache.entryOf(request())?.token).toBe('NEWER');
      expect(credential.calls).toHaveLength(1);
      // A refresh done (adopted), not a caller's miss answered by the store.
      expect(credential.stats).toMatchObject({ refreshes: 1, storeHits: 0 });
    });

    it('counts a newer token adopted while waiting for the lock as a refresh (shared cache)', async () => {
      build({ store: true });
      // Another replica holds the lock and stores its token: this one adopts it.
      const flight = {
        run: async (_name: string, poll: () => Promise<unknown>, fetch: () => Promise<unknown>) => {
          await storeToken('OF-REPLICA-B');
          return (await poll()) ?? fetch();
        },
      } as unknown as CrossProcessFlight;
      await acquirer.acquire(request(), false);
      const old = cache.entryOf(request())!;
      await jest.advanceTimersByTimeAsync(60_000);
      acquirer.close();
      acquirer = new TokenAcquirer(cache, policy(), silent, flight);

      expect((await acquirer.refreshed(old)).adopted).toBe(true);
      expect(credential.calls).toHaveLength(1);
      expect(credential.stats).toMatchObject({ refreshes: 1, storeHits: 0 });
    });
  });

  it('close() stops retries', async () => {
    credential.script.push(transient(), 'never');
    const caller = track(acquirer.acquire(request(), false));
    await flush();
    expect(credential.calls).toHaveLength(1);

    acquirer.close();
    await flush();

    expect(caller.error?.code).toBe('shutdown');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(credential.calls).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  describe('events', () => {
    /** Every event while the test runs. */
    function events(): ClientCredentialsEvent[] {
      const seen: ClientCredentialsEvent[] = [];
      metrics.events.listen({ wants: () => true, next: (e) => seen.push(e) });
      return seen;
    }

    it('a failed acquisition is one failure event, however many callers waited; its cool-down adds none', async () => {
      const seen = events();
      credential.script.push(rejected());
      const callers = [1, 2, 3].map(() => track(acquirer.acquire(request(), false)));
      await flush();
      expect(callers.map((c) => c.error?.code)).toEqual(Array(3).fill('request_rejected'));
      expect(seen).toEqual([
        {
          type: 'failure',
          at: new Date(Date.now()),
          credential: 'api',
          tenantId: 't1',
          scopes: ['api://x/.default'],
          error: {
            code: 'request_rejected',
            message: expect.stringContaining('AADSTS500011.') as string,
            transient: false,
          },
          // The first cool-down, jitter at its lowest: half of 200 ms.
          coolDownUntil: new Date(Date.now() + 100),
        },
      ]);

      // In the cool-down: the same error at once, no request, no new event.
      const cooled = track(acquirer.acquire(request(), false));
      await flush();
      expect(cooled.error?.code).toBe('request_rejected');
      expect(credential.calls).toHaveLength(1);
      expect(seen).toHaveLength(1);
    });

    it('a refused token is told; a replacement refused at once is told as held off', async () => {
      const seen = events();
      const first = await acquirer.acquire(request(), false);
      const replacement = await acquirer.replace(request(), first.token);
      expect(acquirer.forget(request(), replacement!.token)).toBe(false);
      expect(seen.map((e) => e.type === 'token-refused' && [e.by, e.heldOff])).toEqual([
        ['api', false],
        ['api', true],
      ]);
      // Names only: no token in any event.
      expect(JSON.stringify(seen)).not.toContain(first.token);
      expect(JSON.stringify(seen)).not.toContain(replacement!.token);
    });
  });
});
