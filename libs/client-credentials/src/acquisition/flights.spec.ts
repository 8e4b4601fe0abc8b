// How flights are joined and how they fail: a caller that misses while a background refresh of
// its token runs rides it (one request for both) yet keeps its own attempts and deadline, and takes
// its token only if no API refused it meanwhile; a refresh never makes a token refused while it ran
// current again; a flight's failure is reported once, and a refresh's failure cools nothing down
// while memory still serves the token.
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { StoredToken } from '../cache/cached-entry';
import { TokenCache } from '../cache/token-cache';
import type { ClientCredentialsEvent } from '../client-credentials.events';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import {
  ClientCredentialsError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../errors/client-credentials.errors';
import { TokenMetrics } from '../observability/token-metrics';
import { DEFAULTS } from '../options/defaults';
import type { TokenPolicy } from '../options/resolved-options';
import { TokenAcquirer } from './token-acquirer';

const HOUR = 3_600_000;
const silent = { log() {}, warn() {}, debug() {}, error() {} };

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  const d = {} as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

/** What a promise came to, readable at any time: no rejection is ever left unhandled. */
function track<T>(promise: Promise<T>): { value?: T; error?: ClientCredentialsError } {
  const outcome: { value?: T; error?: ClientCredentialsError } = {};
  promise.then(
    (value) => (outcome.value = value),
    (error: ClientCredentialsError) => (outcome.error = error),
  );
  return outcome;
}

/** Lets every pending promise callback run (setImmediate is not faked). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** The acquirer's view of a credential: `fetch` plays a script of tokens, failures, deferreds. */
class FakeCredential {
  readonly name = 'api';
  readonly key = 'api';
  readonly stats = { cacheHits: 0, storeHits: 0, refreshes: 0 };
  readonly script: (string | Error | Deferred<string>)[] = [];
  /** The token each request named (one the source must not answer with: see `TokenFetch`). */
  readonly named: (string | undefined)[] = [];
  calls = 0;

  storeKeys = (tenantId: string, scopeKey: string) => [`k|${tenantId}|${scopeKey}`];
  boundThumbprint = () => undefined;
  sourceId = (index: number) => `secret#${index}`;
  recordSuccess = () => undefined;

  async fetch(_tenantId: string, _scopes: string[], _claims?: string, named?: string) {
    this.calls++;
    this.named.push(named);
    const step = this.script.shift() ?? `token-${this.calls}`;
    if (step instanceof Error) throw step;
    const token = typeof step === 'string' ? step : await step.promise;
    return { issued: { token, tokenType: 'bearer', expiresOn: Date.now() + HOUR }, index: 0 };
  }
}

const unavailable = () => new TokenEndpointError('endpoint_unavailable', 'HTTP 503.', {}, true);
const rejected = () =>
  new TokenRequestRejectedError('request_rejected', 'AADSTS500011.', { status: 400 });

/** The module's defaults, without jitter (refresh points exactly at half a lifetime). */
const policy: TokenPolicy = {
  maxEntries: 100,
  refresh: { ...DEFAULTS.refresh, jitter: 0 },
  retry: DEFAULTS.retry,
  timeouts: DEFAULTS.timeouts,
};

describe('flights', () => {
  let credential: FakeCredential;
  let cache: TokenCache;
  let acquirer: TokenAcquirer;
  let failures: ClientCredentialsEvent[];
  const request = (): TokenRequest => ({
    credential: credential as unknown as Credential,
    tenantId: 't1',
    scopes: ['api://x/.default'],
    scopeKey: 'api://x/.default',
  });

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    jest.spyOn(Math, 'random').mockReturnValue(0);
    credential = new FakeCredential();
    cache = new TokenCache(undefined, 100, 120_000, 0, silent);
    const metrics = new TokenMetrics();
    failures = [];
    metrics.events.listen({
      wants: (type) => type === 'failure',
      next: (e) => failures.push(e),
    });
    acquirer = new TokenAcquirer(cache, policy, silent, undefined, metrics);
  });

  afterEach(() => {
    acquirer.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  /** T1 cached; a minute on, its background refresh under way, answered when the test says. */
  async function refreshing() {
    credential.script.push('T1');
    await acquirer.acquire(request(), false);
    // Its refresh asks later than T1 was obtained: its token is newer (`RefusedTokens.filter`).
    jest.setSystemTime(Date.now() + 60_000);
    const answer = deferred<string>();
    credential.script.push(answer);
    const refresh = track(acquirer.refresh(cache.entryOf(request())!));
    await flush();
    expect(credential.calls).toBe(2);
    return { answer, refresh };
  }

  /**
   * T1 cached and in a store; a minute on, its background refresh under way, its store read
   * answered when the test says — with T1, which another replica's refresh got back unchanged (an
   * endpoint's cache) and stored again with a later refresh point.
   */
  async function refreshingFromStore() {
    const store = createCache({ stores: [new Keyv()] });
    acquirer.close();
    cache = new TokenCache(store, 100, 120_000, 0, silent);
    acquirer = new TokenAcquirer(cache, policy, silent, undefined, new TokenMetrics());
    credential.script.push('T1');
    await acquirer.acquire(request(), false);
    jest.setSystemTime(Date.now() + 60_000);
    const storeKey = credential.storeKeys('t1', 'api://x/.default')[0];
    const t1 = (await store.get<StoredToken>(storeKey))!;
    await store.set(storeKey, { ...t1, refreshOn: t1.refreshOn + 600_000 }, HOUR);
    const read = deferred<void>();
    const keyv = store.stores[0];
    const getMany = keyv.getMany.bind(keyv);
    jest.spyOn(keyv, 'getMany').mockImplementationOnce(async (keys: string[]) => {
      await read.promise;
      return getMany(keys);
    });
    const refresh = track(acquirer.refresh(cache.entryOf(request())!));
    await flush();
    return { refresh, read };
  }

  describe('a caller that misses while a background refresh runs', () => {
    it('shares its request: one request for both, and the caller gets the token as fetched', async () => {
      const { answer, refresh } = await refreshing();
      const replaced = track(acquirer.replace(request(), 'T1'));
      await flush();
      answer.resolve('T2');
      await flush();

      expect(replaced.value).toMatchObject({ token: 'T2', source: 'network' });
      expect(refresh.value?.token).toBe('T2');
      expect(credential.calls).toBe(2);
    });

    it('gets its own retries when the refresh fails once (an API refused the token)', async () => {
      const { answer, refresh } = await refreshing();
      credential.script.push('T2');
      const replaced = track(acquirer.replace(request(), 'T1'));
      await flush();
      answer.reject(unavailable());
      await jest.advanceTimersByTimeAsync(100); // the backoff after a first failure
      await flush();

      expect(refresh.error?.code).toBe('endpoint_unavailable');
      expect(replaced.value).toMatchObject({ token: 'T2', source: 'network' });
      // As without a refresh: a failed request, then the token.
      expect(credential.calls).toBe(3);
      expect(failures).toHaveLength(0);
      // No cool-down left behind: the next forced call asks at once.
      expect((await acquirer.acquire(request(), true)).token).toBe('token-4');
    });

    it('makes retry.maxAttempts requests in all, the refresh’s first, then fails once', async () => {
      const { answer } = await refreshing();
      credential.script.push(unavailable(), unavailable(), 'never');
      const replaced = track(acquirer.replace(request(), 'T1'));
      await flush();
      answer.reject(unavailable());
      await jest.advanceTimersByTimeAsync(10_000);

      expect(replaced.error?.code).toBe('endpoint_unavailable');
      expect(credential.calls).toBe(4); // T1, then 3 attempts
      expect(failures).toHaveLength(1);
    });

    it('fails with the refresh’s failure when it is not transient, told once', async () => {
      const { answer } = await refreshing();
      const error = rejected();
      const replaced = track(acquirer.replace(request(), 'T1'));
      const joined = track(acquirer.acquire(request(), false));
      await flush();
      answer.reject(error);
      await flush();

      expect(replaced.error).toBe(error);
      expect(joined.error).toBe(error);
      expect(credential.calls).toBe(2);
      expect(failures).toHaveLength(1);
      // The cool-down of one failure (half of 200 ms, jitter at its lowest): over after 100 ms.
      const cooling = track(acquirer.acquire(request(), true));
      await flush();
      expect(cooling.error).toBe(error);
      expect(credential.calls).toBe(2);
      await jest.advanceTimersByTimeAsync(100);
      expect((await acquirer.acquire(request(), true)).token).toBe('token-3');
    });

    it('does not take the token an API refused meanwhile (an endpoint’s cache answered it): asks itself, naming it', async () => {
      const { answer, refresh } = await refreshing();
      // Refused while the refresh renewing it runs (forgetRefusedToken), then asked for again.
      expect(acquirer.forget(request(), 'T1')).toBe(true);
      const next = track(acquirer.acquire(request(), false));
      await flush();
      answer.resolve('T1'); // a managed identity endpoint's cache: the token renewed, unchanged
      await flush();

      expect(refresh.error?.code).toBe('refused_token_reissued');
      // The ride was one attempt: the caller flight asks once more, at once, naming the token.
      expect(next.value).toMatchObject({ token: 'token-3', source: 'network' });
      expect(credential.calls).toBe(3);
      expect(credential.named[2]).toBe('T1');
      expect(cache.entryOf(request())?.token).toBe('token-3');
      expect(failures).toHaveLength(0);
    });

    it('does not take the refused token a store read begun before the refusal adopted', async () => {
      const { refresh, read } = await refreshingFromStore();
      expect(acquirer.forget(request(), 'T1')).toBe(true);
      const next = track(acquirer.acquire(request(), false));
      await flush();
      read.resolve();
      await flush();

      // The refresh asked instead (naming T1), and the caller rode that request.
      expect(refresh.value?.token).toBe('token-2');
      expect(next.value).toMatchObject({ token: 'token-2', source: 'network' });
      expect(credential.calls).toBe(2);
      expect(credential.named[1]).toBe('T1');
    });

    it('takes a token newer than the refused one, though asked for before the refusal: as memory and the store would', async () => {
      const { answer } = await refreshing();
      // A CAE refusal naming a revocation now: the filter asks only for a token newer than the
      // refused one (the integrations answer a claims challenge with a claims request, apart).
      await jest.advanceTimersByTimeAsync(5_000);
      expect(acquirer.forget(request(), 'T1', Date.now())).toBe(true);
      const replaced = track(acquirer.replace(request(), 'T1'));
      await flush();
      answer.resolve('T2');
      await flush();

      expect(replaced.value).toMatchObject({ token: 'T2', source: 'network' });
      expect(credential.calls).toBe(2);
    });

    it('has its own deadline: a refresh that hangs does not take the caller with it', async () => {
      credential.script.push('T1');
      await acquirer.acquire(request(), false);
      credential.script.push(deferred<string>(), 'T2'); // the refresh's request never settles
      const refresh = track(acquirer.refresh(cache.entryOf(request())!));
      await jest.advanceTimersByTimeAsync(20_000);
      const replaced = track(acquirer.replace(request(), 'T1'));
      // The refresh's deadline (30 s after it started), then the caller's backoff.
      await jest.advanceTimersByTimeAsync(10_100);
      await flush();

      expect(refresh.error?.code).toBe('timeout');
      expect(replaced.value?.token).toBe('T2');
      expect(credential.calls).toBe(3);
    });
  });

  describe('a background refresh of a token an API refused while it ran', () => {
    it('does not make the refused token current when an endpoint’s cache answers it: no hit serves it, and the next caller asks at once, naming it', async () => {
      const { answer, refresh } = await refreshing();
      expect(acquirer.forget(request(), 'T1')).toBe(true);
      answer.resolve('T1'); // a managed identity endpoint's cache: the token renewed, unchanged
      await flush();

      expect(refresh.error?.code).toBe('refused_token_reissued');
      expect(cache.serve(cache.entryOf(request()), request().scopes)).toBeUndefined();
      // Not the authority's failure: no cool-down, the next caller's request names the token.
      expect((await acquirer.acquire(request(), false)).token).toBe('token-3');
      expect(credential.calls).toBe(3);
      expect(credential.named[2]).toBe('T1');
      expect(cache.serve(cache.entryOf(request()), request().scopes)?.token).toBe('token-3');
      expect(failures).toHaveLength(0);
    });

    it('does not adopt it from a store read begun before the refusal: asks instead, naming it', async () => {
      const { refresh, read } = await refreshingFromStore();
      expect(acquirer.forget(request(), 'T1')).toBe(true);
      read.resolve();
      await flush();

      expect(refresh.value?.token).toBe('token-2');
      expect(credential.calls).toBe(2);
      expect(credential.named[1]).toBe('T1');
      expect(cache.serve(cache.entryOf(request()), request().scopes)?.token).toBe('token-2');
    });
  });

  describe('a background refresh that fails', () => {
    it('cools nothing down while memory serves the token: a forced call still asks', async () => {
      const { answer, refresh } = await refreshing();
      answer.reject(rejected());
      await flush();
      expect(refresh.error?.code).toBe('request_rejected');

      expect((await acquirer.acquire(request(), true)).token).toBe('token-3');
      expect(failures).toHaveLength(0);
    });

    it('starts the cool-down once memory no longer serves the token', async () => {
      const { answer, refresh } = await refreshing();
      acquirer.forget(request(), 'T1');
      answer.reject(rejected());
      await flush();
      expect(refresh.error?.code).toBe('request_rejected');

      const next = track(acquirer.acquire(request(), false));
      await flush();
      expect(next.error?.code).toBe('request_rejected');
      expect(credential.calls).toBe(2);
    });
  });

  describe('a flight abandoned at its deadline that fails later', () => {
    it('reports one failure, and does not cool down a token a newer flight got', async () => {
      const late = deferred<string>();
      credential.script.push(late);
      const first = track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(30_000);
      expect(first.error?.code).toBe('timeout');
      // After the cool-down, a newer flight gets the token.
      await jest.advanceTimersByTimeAsync(100);
      expect((await acquirer.acquire(request(), false)).token).toBe('token-2');

      late.reject(unavailable());
      await flush();

      expect(failures.map((e) => e.type === 'failure' && e.error.code)).toEqual(['timeout']);
      // No cool-down restarted by the late failure: a forced call asks at once.
      expect((await acquirer.acquire(request(), true)).token).toBe('token-3');
    });

    it('counts once in the cool-down: the next failure is the second in a row, not the third', async () => {
      const late = deferred<string>();
      credential.script.push(late);
      track(acquirer.acquire(request(), false));
      await jest.advanceTimersByTimeAsync(30_000);
      late.reject(unavailable());
      await flush();

      // The first cool-down is 100 ms (half of 200): over, a new flight fails for good.
      await jest.advanceTimersByTimeAsync(100);
      credential.script.push(rejected());
      const second = track(acquirer.acquire(request(), false));
      await flush();
      expect(second.error?.code).toBe('request_rejected');
      // Second in a row: half of 400 ms. (Counted as third, it would be 400 ms.)
      await jest.advanceTimersByTimeAsync(199);
      const cooling = track(acquirer.acquire(request(), false));
      await flush();
      expect(cooling.error?.code).toBe('request_rejected');
      await jest.advanceTimersByTimeAsync(1);
      expect((await acquirer.acquire(request(), false)).token).toBe('token-3');
    });
  });
});
