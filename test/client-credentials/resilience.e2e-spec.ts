import { getEventListeners } from 'node:events';
import { startDevAuthority, type FaultSpec } from '@app/dev-authority';
import { AccessToken, TokenEndpointError } from '@app/client-credentials';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, TokenApp } from '../support/token-app';
import { sleep, eventually } from '../support/waiting';

const [authority] = useFixtures(startDevAuthority);

/**
 * Background refresh and outages, with token lifetimes of seconds. Assertions are about order
 * and counts (which token, which source, how many requests), never about durations.
 */
describe('TokenService: refresh and outages', () => {
  let app: TokenApp | undefined;

  afterEach(async () => {
    authority.faults.clear();
    await app?.close();
    app = undefined;
  });

  /** A fresh tenant and app whose tokens live `lifetime` s and should be refreshed after `refreshIn` s. */
  async function setup(
    lifetime: number,
    refreshIn: number,
    extra: Partial<Parameters<typeof startTokenApp>[0]> = {},
  ) {
    const tenant = authority.createTenant();
    authority.setAccessTokenLifetime(lifetime, {
      tenantId: tenant.tenantId,
      refreshInSeconds: refreshIn,
    });
    const appReg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, appReg.clientId, [
          { type: 'secret', secret: appReg.addSecret() },
        ]),
      },
      refresh: { jitter: 0, expirySkewSeconds: 1 },
      retry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 400 },
      timeouts: { requestMs: 500, acquireMs: 1500 },
      ...extra,
    });
    return { tenantId: tenant.tenantId, clientId: appReg.clientId, tokens: app.tokens };
  }

  it('refreshes in the background: callers keep the cached token and never wait on a slow endpoint', async () => {
    const { tenantId, clientId, tokens } = await setup(8, 1, {
      timeouts: { requestMs: 5000, acquireMs: 6000 },
    });
    const first = await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope); // in use: worth refreshing
    authority.faults.add({ target: 'token', tenantId, kind: 'latency', latencyMs: 1500 });

    // The refresh timer fires at refreshOn; the slow answer keeps it on the wire for 1.5 s.
    await sleep(first.refreshOn!.getTime() - Date.now() + 200);
    const during = await Promise.all(
      Array.from({ length: 50 }, () => tokens.getAccessToken(authority.apiScope)),
    );

    // Every caller got the old token from the cache while the refresh was still on the wire.
    expect(during.every((t) => t.source === 'cache' && t.token === first.token)).toBe(true);
    expect(authority.countTokenRequests({ clientId, outcome: 'ok' })).toBe(1);

    await eventually(() => authority.countTokenRequests({ clientId, outcome: 'ok' }) === 2);
    await eventually(() => tokens.getStats().refreshes === 1);
    const after = await tokens.getAccessToken(authority.apiScope);
    expect(after.source).toBe('cache');
    expect(after.token).not.toBe(first.token);
  });

  it('does not refresh a token nobody used since it was fetched', async () => {
    const { clientId, tokens } = await setup(4, 1);
    const first = await tokens.getAccessToken(authority.apiScope);
    await sleep(first.refreshOn!.getTime() - Date.now() + 300);
    expect(authority.countTokenRequests({ clientId })).toBe(1);
    // Used after refreshOn: served from cache, and a refresh starts behind it.
    expect((await tokens.getAccessToken(authority.apiScope)).source).toBe('cache');
    await eventually(() => authority.countTokenRequests({ clientId }) === 2);
  });

  it.each(['the module option', "Nest's Logger (app.useLogger)"])(
    'a logger that throws changes nothing (%s): the failed refresh is retried, nothing is left unhandled',
    async (given) => {
      // A user's logger may throw (a transport down, a message it cannot serialise). The library
      // logs from timers and background promises, where a throw would be an uncaught exception.
      const thrown: unknown[] = [];
      const onUnhandled = (e: unknown) => thrown.push(e);
      process.on('unhandledRejection', onUnhandled);
      process.on('uncaughtException', onUnhandled);
      try {
        const failing = () => {
          throw new Error('log transport down');
        };
        const logger = { log: failing, error: failing, warn: failing, debug: failing };
        const { tenantId, clientId, tokens } = await setup(
          6,
          1,
          given === 'the module option' ? { logger } : { logger: undefined },
        );
        // Nest's Logger hands its lines to the logger an app sets with useLogger() (what
        // overrideLogger does; after the testing module's compile, which sets its own).
        if (given !== 'the module option') Logger.overrideLogger(logger);
        const first = await tokens.getAccessToken(authority.apiScope);
        await tokens.getAccessToken(authority.apiScope); // in use: worth refreshing
        authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 503, times: 1 });

        // At refreshOn the refresh fails (503, logged as a warning: the logger throws), then its
        // retry 50–400 ms later gets a new token, long before the first one expires.
        await eventually(
          () => authority.countTokenRequests({ clientId, outcome: 'ok' }) === 2,
          4000,
        );
        // Answered at the authority; in the cache once the library has read the answer.
        await eventually(() => tokens.getStats().refreshes === 1);
        expect(authority.countTokenRequests({ clientId })).toBe(3);
        const after = await tokens.getAccessToken(authority.apiScope);
        expect(after.source).toBe('cache');
        expect(after.token).not.toBe(first.token);
        expect(thrown).toEqual([]);
      } finally {
        Logger.overrideLogger(new ConsoleLogger());
        process.off('unhandledRejection', onUnhandled);
        process.off('uncaughtException', onUnhandled);
      }
    },
  );

  const storms: [string, Omit<FaultSpec, 'tenantId'>, string][] = [
    ['503 burst', { target: 'token', kind: 'status', status: 503 }, 'endpoint_unavailable'],
    [
      '429 with Retry-After',
      { target: 'token', kind: 'throttle', retryAfterSeconds: 1 },
      'throttled',
    ],
    ['connection resets', { target: 'token', kind: 'reset' }, 'network_error'],
    ['a hanging endpoint', { target: 'token', kind: 'latency', latencyMs: 3000 }, 'timeout'],
    ['an HTML 502', { target: 'token', kind: 'html502' }, 'endpoint_unavailable'],
    ['a non-JSON 200', { target: 'token', kind: 'non-json' }, 'invalid_response'],
  ];

  it.each(storms)(
    '%s while a token is valid: zero failed calls, then a typed error after expiry',
    async (_name, fault, code) => {
      const { tenantId, tokens } = await setup(4, 1);
      const first = await tokens.getAccessToken(authority.apiScope);
      authority.faults.add({ ...fault, tenantId });

      // Call every 50 ms until the token stops being served: until then every call gets it.
      let calls = 0;
      let error: unknown;
      while (error === undefined && Date.now() < first.expiresOn.getTime() + 1000) {
        const t = await tokens.getAccessToken(authority.apiScope).catch((e: unknown) => e);
        if (t instanceof AccessToken) {
          expect(t.token).toBe(first.token);
          calls++;
          await sleep(50);
        } else {
          error = t;
        }
      }
      expect(calls).toBeGreaterThan(10);
      // The first failure comes only once the token is no longer valid (expiry minus the 1 s skew).
      expect(Date.now()).toBeGreaterThanOrEqual(first.expiresOn.getTime() - 1000);
      expect(error).toBeInstanceOf(TokenEndpointError);
      expect(error).toMatchObject({ code, transient: true, credential: 'api', tenantId });
      // Fail fast on the next call too: the cool-down answers with the same error, without a request.
      await expect(tokens.getAccessToken(authority.apiScope)).rejects.toBe(error);
    },
  );

  it('recovers at the next attempt after a 5xx: no 60-second msal throttle', async () => {
    const { tenantId, tokens } = await setup(4, 1);
    await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope);
    authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 503, times: 1 });

    await eventually(() => tokens.getStats().refreshes === 1, 3000);
    expect(authority.countTokenRequests({ tenantId, outcome: 'ok' })).toBe(2);
    expect(authority.countTokenRequests({ tenantId, outcome: 'fault' })).toBe(1);
  });

  it('a cold caller gets the token after transient failures are retried', async () => {
    const { tenantId, tokens } = await setup(60, 30);
    authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 500, times: 1 });

    const token = await tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(authority.countTokenRequests({ tenantId })).toBe(2);
  });

  it('a caller with nothing cached never waits past timeouts.acquireMs', async () => {
    const { tenantId, tokens } = await setup(60, 30, {
      timeouts: { requestMs: 5000, acquireMs: 300 },
    });
    authority.faults.add({ target: 'token', tenantId, kind: 'latency', latencyMs: 2000 });

    await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'timeout',
      message:
        "No token for credential 'api' within 300 ms. Hint: Check connectivity to the authority host; raise `timeouts.requestMs` / `timeouts.acquireMs` if the network is slow.",
    });
  });

  it('an aborted caller stops waiting; the request still serves the others', async () => {
    const { tenantId, clientId, tokens } = await setup(60, 30, {
      timeouts: { requestMs: 5000, acquireMs: 5000 },
    });
    authority.faults.add({ target: 'token', tenantId, kind: 'latency', latencyMs: 300, times: 1 });
    const controller = new AbortController();

    const aborted = tokens.getAccessToken(authority.apiScope, { signal: controller.signal });
    const patient = tokens.getAccessToken(authority.apiScope);
    controller.abort();

    await expect(aborted).rejects.toMatchObject({ code: 'aborted' });
    expect((await patient).source).toBe('network');
    expect(authority.countTokenRequests({ clientId })).toBe(1);
  });

  describe('callers that stop waiting', () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    beforeEach(() => {
      unhandled.length = 0;
      process.on('unhandledRejection', record);
    });
    afterEach(() => {
      process.off('unhandledRejection', record);
    });

    it('an already-aborted signal during an outage starts nothing and leaves no rejection unhandled', async () => {
      const { tenantId, clientId, tokens } = await setup(60, 30, {
        retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: 100 },
      });
      authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 503 });
      const gone = AbortSignal.abort();

      // Cold, then in the cool-down that the patient caller's failure starts.
      await expect(
        tokens.getAccessToken(authority.apiScope, { signal: gone }),
      ).rejects.toMatchObject({ code: 'aborted' });
      await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
        code: 'endpoint_unavailable',
      });
      await expect(
        tokens.getAccessToken(authority.apiScope, { signal: gone }),
      ).rejects.toMatchObject({ code: 'aborted' });
      await sleep(100);

      expect(unhandled).toEqual([]);
      expect(authority.countTokenRequests({ clientId })).toBe(1);
    });

    it('callers that abort while the request fails leave no rejection unhandled', async () => {
      const { tenantId, clientId, tokens } = await setup(60, 30, {
        retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: 100 },
      });
      authority.faults.add({ target: 'token', tenantId, kind: 'latency', latencyMs: 200 });
      authority.faults.add({ target: 'token', tenantId, kind: 'status', status: 503 });
      const controller = new AbortController();

      // One signal shared by 20 callers (an app's shutdown signal, say): one listener of the
      // library's on it, not one per caller — past 10, Node prints a MaxListenersExceededWarning
      // ("possible EventTarget memory leak") in the app's log.
      const calls = Array.from({ length: 20 }, () =>
        tokens.getAccessToken(authority.apiScope, { signal: controller.signal }),
      );
      await eventually(() => tokens.getStats().cacheMisses === 20);
      await new Promise((resolve) => setImmediate(resolve));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort();
      for (const call of calls) await expect(call).rejects.toMatchObject({ code: 'aborted' });
      await eventually(() => authority.countTokenRequests({ clientId }) === 1);
      await sleep(400);

      expect(unhandled).toEqual([]);
      expect(authority.countTokenRequests({ clientId })).toBe(1);
    });
  });

  describe('Retry-After is honoured up to retry.maxRetryAfterMs', () => {
    const day = 86_400;

    it('a cold caller retries after the cap, not after a day', async () => {
      const { tenantId, clientId, tokens } = await setup(60, 30, {
        retry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 100, maxRetryAfterMs: 300 },
        timeouts: { requestMs: 1000, acquireMs: 3000 },
      });
      authority.faults.add({
        target: 'token',
        tenantId,
        kind: 'throttle',
        retryAfterSeconds: day,
        times: 1,
      });

      const token = await tokens.getAccessToken(authority.apiScope);

      expect(token.source).toBe('network');
      expect(authority.countTokenRequests({ clientId, outcome: 'fault' })).toBe(1);
      expect(authority.countTokenRequests({ clientId, outcome: 'ok' })).toBe(1);
    });

    it('callers are not locked out for the day a 429 asked for', async () => {
      const { tenantId, clientId, tokens } = await setup(60, 30, {
        retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: 100, maxRetryAfterMs: 300 },
      });
      authority.faults.add({
        target: 'token',
        tenantId,
        kind: 'throttle',
        retryAfterSeconds: day,
        times: 1,
      });
      await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
        code: 'throttled',
        // What the library does, not the day the authority asked for.
        retryAfterMs: 300,
        message: expect.stringContaining(
          'The authority asked to wait 86400 s (Retry-After); the library tries again after 300 ms at most (retry.maxRetryAfterMs).',
        ),
      });

      // The authority is fine again: within the cap (not a day) a caller gets a token.
      let token: AccessToken | undefined;
      await eventually(() => {
        void tokens.getAccessToken(authority.apiScope).then(
          (t) => (token = t),
          () => undefined,
        );
        return token !== undefined;
      }, 5000);
      expect(authority.countTokenRequests({ clientId, outcome: 'fault' })).toBe(1);
      expect(authority.countTokenRequests({ clientId, outcome: 'ok' })).toBe(1);
    });

    it('the background refresh tries again after the cap instead of giving up', async () => {
      const { tenantId, tokens } = await setup(6, 1, {
        retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: 100, maxRetryAfterMs: 300 },
      });
      await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope);
      authority.faults.add({
        target: 'token',
        tenantId,
        kind: 'throttle',
        retryAfterSeconds: day,
        times: 1,
      });

      await eventually(() => tokens.getStats().refreshes === 1, 4000);
      expect(authority.countTokenRequests({ tenantId, outcome: 'fault' })).toBe(1);
    });
  });
});
