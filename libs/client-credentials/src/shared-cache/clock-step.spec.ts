// The shared cache's throttles measure lengths of time on the library's monotonic clock: a wall
// clock set back (an NTP step, by hand) must not stop the slot map re-reads, the recovery
// announcements or the warnings for as long as the step.
import { ClusterTopology } from './cluster-topology';
import { RecoveryNotice, RECOVERY_INTERVAL_MS } from './recovery-notice';
import { ErrorReporter, newSharedCacheStats } from './shared-cache-stats';
import type { RedisClientLike } from '../shared-cache.options';

const HOUR = 3_600_000;

function logger(warnings: string[]) {
  return { log() {}, warn: (m: string) => warnings.push(m), debug() {}, error() {} };
}

describe('shared cache throttles: wall clock set back an hour', () => {
  beforeEach(() =>
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    }),
  );
  afterEach(() => jest.useRealTimers());

  it("a cluster's slot map is re-read again once the re-read interval has passed", async () => {
    const topology = new ClusterTopology(
      new ErrorReporter(newSharedCacheStats(), logger([]), 0),
      1000,
    );
    let rereads = 0;
    const node = { isReady: true, sendCommand: () => Promise.resolve('PONG') };
    const cluster = {
      masters: [{ client: node }],
      _slots: { rediscover: () => Promise.resolve(void rereads++) },
    } as unknown as RedisClientLike;
    await topology.refresh(cluster);
    expect(rereads).toBe(1);

    jest.setSystemTime(Date.now() - HOUR);
    await jest.advanceTimersByTimeAsync(499);
    await topology.refresh(cluster);
    expect(rereads).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    await topology.refresh(cluster);

    expect(rereads).toBe(2);
  });

  it('a recovery is announced again once the announcement interval has passed', async () => {
    const notice = new RecoveryNotice();
    let heard = 0;
    notice.listen(() => heard++);
    notice.failed();
    notice.succeeded();
    expect(heard).toBe(1);

    jest.setSystemTime(Date.now() - HOUR);
    await jest.advanceTimersByTimeAsync(RECOVERY_INTERVAL_MS);
    notice.failed();
    notice.succeeded();

    expect(heard).toBe(2);
  });

  it('a Redis error is logged again once the log interval has passed', async () => {
    const warnings: string[] = [];
    const reporter = new ErrorReporter(newSharedCacheStats(), logger(warnings), 30_000);
    reporter.report('reading a token', new Error('first'));

    jest.setSystemTime(Date.now() - HOUR);
    await jest.advanceTimersByTimeAsync(29_999);
    reporter.report('reading a token', new Error('second'));
    expect(warnings).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    reporter.report('reading a token', new Error('third'));

    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain('(1 more since the last report)');
  });
});
