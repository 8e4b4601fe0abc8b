import type { ClientCredentialsEvent, WarmUpEvent } from '../client-credentials.events';
import { ClientCredentialsError } from '../errors/client-credentials.errors';
import { TokenEvents } from '../observability/token-events';
import type { ResolvedWarmUp, WarmUpTarget } from '../options/resolved-options';
import { WarmUp } from './warm-up';
import type { WarmUpCalls } from './warm-up-calls';

const S = 1000;
const retry = { initialDelayMs: 100, maxDelayMs: 400, maxRetryAfterMs: 1000 };

/** What the fake authority does with a request. */
type Behaviour = 'down' | 'rejects' | 'hangs' | 'ok';

/** The warm-up of one token over calls that answer as `behaviour.now` says, counted. */
function warmUpOf(wait: ResolvedWarmUp['wait'], timeoutMs = 1 * S) {
  const behaviour = { now: 'down' as Behaviour };
  const requests = { count: 0 };
  const target: WarmUpTarget = { scopes: 'api://orders/.default', declaredAt: 'warmUp.tokens[0]' };
  const calls: WarmUpCalls = {
    get: (_, signal) => {
      requests.count++;
      switch (behaviour.now) {
        case 'ok':
          return Promise.resolve({ token: 'x' });
        case 'down':
          return Promise.reject(
            new ClientCredentialsError('endpoint_unavailable', 'HTTP 503', {}, true),
          );
        case 'rejects':
          return Promise.reject(new ClientCredentialsError('credential_rejected', 'AADSTS7000215'));
        case 'hangs':
          return new Promise((_, reject) =>
            signal.addEventListener('abort', () =>
              reject(new ClientCredentialsError('aborted', 'aborted', {}, true)),
            ),
          );
      }
    },
    describe: () => ({ credential: 'api', tenantId: 'home', scopes: ['api://orders/.default'] }),
  };
  const events = new TokenEvents();
  const heard: WarmUpEvent[] = [];
  events.listen({
    wants: () => true,
    next: (e: ClientCredentialsEvent) => void (e.type === 'warm-up' && heard.push(e)),
  });
  const logs: string[] = [];
  const logger = {
    log: (m: string) => logs.push(m),
    warn: (m: string) => logs.push(m),
    error() {},
  };
  const warmUp = new WarmUp({ targets: [target], wait, timeoutMs }, retry, calls, events, logger);
  return { warmUp, behaviour, requests, heard, logs };
}

describe('WarmUp', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('background: reported failed at timeoutMs, retried on (capped backoff) until the authority recovers', async () => {
    const w = warmUpOf('background');
    await w.warmUp.start();
    await jest.advanceTimersByTimeAsync(1 * S);
    expect(w.warmUp.status()).toMatchObject({
      state: 'failed',
      obtained: 0,
      credentials: { api: { declared: 1, obtained: 0, failed: 1 } },
      failures: [{ credential: 'api', error: { code: 'endpoint_unavailable' } }],
    });
    expect(w.heard.map((e) => e.outcome)).toEqual(['failed']);

    // An outage of a minute: asked for again at most every retry.maxDelayMs, at least every 2×.
    const before = w.requests.count;
    await jest.advanceTimersByTimeAsync(60 * S);
    const during = w.requests.count - before;
    expect(during).toBeGreaterThanOrEqual((60 * S) / retry.maxDelayMs / 2);
    expect(during).toBeLessThanOrEqual((60 * S) / (retry.maxDelayMs / 2) + 1);
    expect(w.warmUp.status().state).toBe('failed');

    w.behaviour.now = 'ok';
    await jest.advanceTimersByTimeAsync(retry.maxDelayMs);
    expect(w.warmUp.status()).toMatchObject({
      state: 'completed',
      obtained: 1,
      credentials: { api: { declared: 1, obtained: 1, failed: 0 } },
      failures: [],
    });
    expect(w.heard.map((e) => e.outcome)).toEqual(['failed', 'completed']);
    expect(w.logs.join('\n')).toContain('obtained its token after the warm-up was reported failed');
    // Obtained: nothing more is asked (its refresh is the refresher's).
    const obtained = w.requests.count;
    await jest.advanceTimersByTimeAsync(60 * S);
    expect(w.requests.count).toBe(obtained);
  });

  it('background: a request that hangs past timeoutMs is reported as a timeout and asked again', async () => {
    const w = warmUpOf('background');
    w.behaviour.now = 'hangs';
    await w.warmUp.start();
    await jest.advanceTimersByTimeAsync(1 * S);
    expect(w.warmUp.status()).toMatchObject({
      state: 'failed',
      failures: [{ error: { code: 'timeout', transient: true } }],
    });
    expect(w.requests.count).toBe(1);
    w.behaviour.now = 'ok';
    await jest.advanceTimersByTimeAsync(retry.maxDelayMs);
    expect(w.warmUp.status()).toMatchObject({ state: 'completed', obtained: 1 });
    expect(w.requests.count).toBe(2);
  });

  it('background: a failure no retry helps stays given up on; one seen while retrying ends the retries', async () => {
    const rejected = warmUpOf('background');
    rejected.behaviour.now = 'rejects';
    await rejected.warmUp.start();
    await jest.advanceTimersByTimeAsync(10 * S);
    expect(rejected.requests.count).toBe(1);
    expect(rejected.warmUp.status()).toMatchObject({
      state: 'failed',
      failures: [{ error: { code: 'credential_rejected' } }],
    });

    const turned = warmUpOf('background');
    await turned.warmUp.start();
    await jest.advanceTimersByTimeAsync(2 * S);
    turned.behaviour.now = 'rejects';
    await jest.advanceTimersByTimeAsync(retry.maxDelayMs);
    const asked = turned.requests.count;
    await jest.advanceTimersByTimeAsync(60 * S);
    expect(turned.requests.count).toBe(asked);
    expect(turned.warmUp.status().failures[0].error.code).toBe('credential_rejected');
  });

  it('background: shutting down stops the retries', async () => {
    const w = warmUpOf('background');
    await w.warmUp.start();
    await jest.advanceTimersByTimeAsync(2 * S);
    w.warmUp.close();
    const asked = w.requests.count;
    await jest.advanceTimersByTimeAsync(60 * S);
    expect(w.requests.count).toBe(asked);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('init: app.init() fails at timeoutMs, and nothing is asked for after', async () => {
    const w = warmUpOf('init');
    const started = w.warmUp.start();
    const failed = expect(started).rejects.toMatchObject({ code: 'warm_up_failed' });
    await jest.advanceTimersByTimeAsync(1 * S);
    await failed;
    const asked = w.requests.count;
    w.behaviour.now = 'ok';
    await jest.advanceTimersByTimeAsync(60 * S);
    expect(w.requests.count).toBe(asked);
    expect(w.warmUp.status().state).toBe('failed');
  });
});
