import { Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InvalidRequestError, type TokenService } from '@app/client-credentials';
import type { DownstreamApis } from '@app/client-credentials/downstream-api';
import type { DaemonConfiguration } from '../config/daemon.config';
import { WorkerScheduler } from './worker-scheduler.service';

const DAY_MS = 86_400_000;

/** The API a worker calls: counts calls; `hold` keeps each call open until released or aborted. */
function fakeApi(hold = false) {
  const signals: AbortSignal[] = [];
  const releases: (() => void)[] = [];
  const answer = {
    status: 200,
    url: 'https://api.contoso.com/data',
    durationMs: 1,
    body: {},
    token: { credential: 'orders', source: 'cache', expiresOn: new Date(0) },
  };
  const call = jest.fn(
    (_method: string, _path: string, _body: unknown, options: { signal: AbortSignal }) => {
      signals.push(options.signal);
      if (!hold) return Promise.resolve(answer);
      return new Promise((resolve, reject) => {
        releases.push(() => resolve(answer));
        options.signal.addEventListener('abort', () => reject(options.signal.reason as Error));
      });
    },
  );
  const apis = { get: () => ({ name: 'orders', call }) } as unknown as DownstreamApis;
  return { apis, call, signals, releaseAll: () => releases.splice(0).forEach((r) => r()) };
}

/** A validated configuration of one worker, as the loader hands it over. */
function configOf(
  worker: { intervalSeconds?: number; cron?: string; runAtStart?: boolean },
  shutdownTimeoutSeconds = 10,
): DaemonConfiguration {
  return {
    shutdownTimeoutSeconds,
    downstreamApis: {
      orders: { baseUrl: 'https://api.contoso.com', scopes: 'api://orders/.default' },
    },
    workers: {
      job: {
        type: 'poller',
        enabled: true,
        runAtStart: false,
        credential: 'orders',
        api: 'orders',
        ...worker,
      },
    },
  } as unknown as DaemonConfiguration;
}

/**
 * Timers the scheduler arms for delays it computes from the configuration. Node fires a timer
 * whose delay is above 2^31-1 ms (24.8 days) after 1 ms; jest's fake timers do the same.
 */
describe('WorkerScheduler timers', () => {
  let scheduler: WorkerScheduler | undefined;

  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-01-01T00:00:01Z') }));
  afterEach(async () => {
    await scheduler?.beforeApplicationShutdown();
    scheduler = undefined;
    jest.clearAllTimers();
    jest.useRealTimers();
  });

  function start(
    config: DaemonConfiguration,
    apis: DownstreamApis,
    http?: HttpAdapterHost,
  ): WorkerScheduler {
    // Every call is valid: what the check refuses is the e2e's (test/daemon/daemon.e2e-spec.ts).
    const tokens = { checkRequest: () => undefined } as unknown as TokenService;
    scheduler = new WorkerScheduler(config, new SchedulerRegistry(), apis, tokens, http);
    scheduler.onApplicationBootstrap();
    return scheduler;
  }

  it('runs a 30-day intervalSeconds worker once per 30 days, not every millisecond', async () => {
    const api = fakeApi();
    const s = start(configOf({ intervalSeconds: 30 * 86_400 }), api.apis);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(api.call).toHaveBeenCalledTimes(0);
    expect(s.snapshot().job).toMatchObject({ runs: 0, skipped: 0 });
    await jest.advanceTimersByTimeAsync(30 * DAY_MS - 2_001);
    expect(api.call).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(api.call).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(30 * DAY_MS);
    expect(api.call).toHaveBeenCalledTimes(2);
    // Stopping the schedule (through SchedulerRegistry, as at shutdown) leaves no timer behind.
    await s.beforeApplicationShutdown();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('runs no worker before the health server listens (a taken port stops the start first)', async () => {
    const api = fakeApi();
    const http = new HttpAdapterHost();
    const s = start(configOf({ intervalSeconds: 5, runAtStart: true }), api.apis, http);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(api.call).toHaveBeenCalledTimes(0);
    expect(s.snapshot()).toEqual({});
    http.listening = true;
    await jest.advanceTimersByTimeAsync(0);
    expect(api.call).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(api.call).toHaveBeenCalledTimes(3);
    // A daemon stopped before it listened never starts them.
    const never = fakeApi();
    const waiting = new HttpAdapterHost();
    const stopped = new WorkerScheduler(
      configOf({ intervalSeconds: 5, runAtStart: true }),
      new SchedulerRegistry(),
      never.apis,
      { checkRequest: () => undefined } as unknown as TokenService,
      waiting,
    );
    stopped.onApplicationBootstrap();
    await stopped.beforeApplicationShutdown();
    waiting.listening = true;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(never.call).toHaveBeenCalledTimes(0);
  });

  it('keeps a short interval as it was: every 5 s', async () => {
    const api = fakeApi();
    start(configOf({ intervalSeconds: 5, runAtStart: true }), api.apis);
    await jest.advanceTimersByTimeAsync(0);
    expect(api.call).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(api.call).toHaveBeenCalledTimes(5);
  });

  it('warns once per overrunning run, not once per skipped tick', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const api = fakeApi(true);
    const s = start(configOf({ intervalSeconds: 1, runAtStart: true }), api.apis);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(s.snapshot().job).toMatchObject({ runs: 0, skipped: 10 });
    const skips = () => warn.mock.calls.filter(([m]) => String(m).includes('still going'));
    expect(skips()).toHaveLength(1);
    // The run ends; the next one overruns too: one more warning for it.
    api.releaseAll();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(s.snapshot().job).toMatchObject({ runs: 1, skipped: 14 });
    expect(api.call).toHaveBeenCalledTimes(2);
    expect(skips()).toHaveLength(2);
    api.releaseAll();
    warn.mockRestore();
  });

  it('runs a monthly cron worker at the start of the month, not at once', async () => {
    const api = fakeApi();
    // Next run: 2026-02-01T00:00:00Z, 31 days (above 2^31-1 ms) after now.
    start(configOf({ cron: '0 0 0 1 * *' }), api.apis);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(api.call).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(31 * DAY_MS - 2_001 - 1_000);
    expect(api.call).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(api.call).toHaveBeenCalledTimes(1);
  });

  it('waits a 30-day shutdownTimeoutSeconds for a running job instead of aborting it at once', async () => {
    const api = fakeApi(true);
    const s = start(configOf({ intervalSeconds: 60, runAtStart: true }, 30 * 86_400), api.apis);
    await jest.advanceTimersByTimeAsync(0);
    expect(api.call).toHaveBeenCalledTimes(1);
    const stopped = s.beforeApplicationShutdown();
    await jest.advanceTimersByTimeAsync(2_000);
    expect(api.signals[0].aborted).toBe(false);
    api.releaseAll();
    await stopped;
    expect(s.snapshot().job).toMatchObject({ runs: 1, failures: 0, lastOutcome: 'ok' });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('aborts a running job when shutdownTimeoutSeconds is over, not before', async () => {
    const api = fakeApi(true);
    const s = start(configOf({ intervalSeconds: 60, runAtStart: true }, 10), api.apis);
    await jest.advanceTimersByTimeAsync(0);
    const stopped = s.beforeApplicationShutdown();
    await jest.advanceTimersByTimeAsync(9_999);
    expect(api.signals[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(api.signals[0].aborted).toBe(true);
    await stopped;
    expect(s.snapshot().job).toMatchObject({ failures: 1, lastError: { code: 'aborted' } });
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('WorkerScheduler start-up check', () => {
  it("refuses an agent the token service refuses, with the worker's path, and schedules nothing", () => {
    const api = fakeApi();
    const config = {
      shutdownTimeoutSeconds: 10,
      downstreamApis: {
        orders: { baseUrl: 'https://api.contoso.com', scopes: 'api://orders/.default' },
      },
      workers: {
        fleet: {
          type: 'agents',
          enabled: true,
          runAtStart: true,
          intervalSeconds: 60,
          credential: 'fleet',
          api: 'orders',
          agents: ['billing', 'suport'],
        },
      },
    } as unknown as DaemonConfiguration;
    const checked: unknown[] = [];
    const tokens = {
      checkRequest: (scopes: unknown, options: { agent?: string }) => {
        checked.push([scopes, options]);
        if (options.agent === 'suport') {
          throw new InvalidRequestError('agent_unknown', `Agent "suport" is unknown.`, {
            credential: 'fleet',
          });
        }
      },
    } as unknown as TokenService;
    const registry = new SchedulerRegistry();
    const scheduler = new WorkerScheduler(config, registry, api.apis, tokens);
    expect(() => scheduler.onApplicationBootstrap()).toThrow(
      /workers\.fleet\.agents\[1\]: Agent "suport" is unknown\. Fix: Pass the agent identity's app id/,
    );
    expect(checked).toEqual([
      ['api://orders/.default', { credential: 'fleet', tenantId: undefined, agent: 'billing' }],
      ['api://orders/.default', { credential: 'fleet', tenantId: undefined, agent: 'suport' }],
    ]);
    expect(registry.getIntervals()).toEqual([]);
    expect(api.call).not.toHaveBeenCalled();
  });
});
