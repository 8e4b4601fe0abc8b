// One deadline per flight: whatever a flight awaits (a credential's callback, a store), a token
// whose acquisition never settles holds its callers and refreshes no longer than acquireMs.
import { TokenCache } from '../cache/token-cache';
import type { Credential } from '../credentials/credential';
import type { TokenRequest } from '../credentials/token-request';
import { DEFAULTS } from '../options/defaults';
import type { TokenPolicy } from '../options/resolved-options';
import { TokenAcquirer } from './token-acquirer';

const silent = { log() {}, warn() {}, debug() {}, error() {} };
const HOUR = 3_600_000;

const policy: TokenPolicy = {
  maxEntries: 100,
  refresh: { ...DEFAULTS.refresh, jitter: 0 },
  retry: DEFAULTS.retry,
  timeouts: DEFAULTS.timeouts,
};

/** A credential whose first `hangs` token requests never settle; later ones answer at once. */
function credentialThatHangs(hangs: number) {
  const calls: number[] = [];
  const credential = {
    name: 'api',
    key: 'api',
    stats: { refreshes: 0, storeHits: 0 },
    storeKeys: (tenantId: string, scopeKey: string) => [`k|${tenantId}|${scopeKey}`],
    boundThumbprint: () => undefined,
    sourceId: () => 'assertion#0',
    recordSuccess: () => undefined,
    fetch: () => {
      calls.push(Date.now());
      if (calls.length <= hangs) return new Promise<never>(() => undefined);
      return Promise.resolve({
        issued: { token: `t${calls.length}`, tokenType: 'Bearer', expiresOn: Date.now() + HOUR },
        index: 0,
      });
    },
  };
  return { credential: credential as unknown as Credential, calls };
}

describe('a flight that never settles', () => {
  let acquirer: TokenAcquirer;

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    jest.spyOn(Math, 'random').mockReturnValue(0);
  });
  afterEach(() => {
    acquirer?.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  function build(credential: Credential) {
    const cache = new TokenCache(undefined, 100, 120_000, 0, silent);
    acquirer = new TokenAcquirer(cache, policy, silent);
    const request: TokenRequest = {
      credential,
      tenantId: 't1',
      scopes: ['api://x/.default'],
      scopeKey: 'api://x/.default',
    };
    return request;
  }

  it('fails its callers at acquireMs, and the next call after the cool-down starts a new flight that gets the token', async () => {
    const { credential, calls } = credentialThatHangs(1);
    const request = build(credential);

    const first = acquirer.acquire(request, false).catch((e: unknown) => e);
    // A caller that joins later is bounded by the flight's deadline, not only by its own wait.
    await jest.advanceTimersByTimeAsync(20_000);
    const joined = acquirer.acquire(request, false).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(await first).toMatchObject({ code: 'timeout', transient: true });
    expect(await joined).toMatchObject({ code: 'timeout' });
    expect(calls).toHaveLength(1);

    // In the cool-down callers fail fast; after it, a new flight: the token.
    await expect(acquirer.acquire(request, false)).rejects.toMatchObject({ code: 'timeout' });
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(acquirer.acquire(request, false)).resolves.toMatchObject({ token: 't2' });
    expect(calls).toHaveLength(2);
  });

  it('a background refresh that never settles is given up at acquireMs, so the refresher can retry', async () => {
    const { credential, calls } = credentialThatHangs(0);
    const request = build(credential);
    const token = await acquirer.acquire(request, false);
    expect(token.token).toBe('t1');
    const entry = (acquirer as unknown as { cache: TokenCache }).cache.entryOf(request)!;
    // The next request hangs.
    (credential as unknown as { fetch: () => Promise<never> }).fetch = () => {
      calls.push(Date.now());
      return new Promise<never>(() => undefined);
    };

    const refresh = acquirer.refresh(entry).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(await refresh).toMatchObject({ code: 'timeout' });
    expect(calls).toHaveLength(2);
  });
});
