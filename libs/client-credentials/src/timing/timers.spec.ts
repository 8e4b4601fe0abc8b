import { getEventListeners } from 'node:events';
import { sleep } from './backoff';
import { after, MAX_TIMER_MS, withDeadline, onAbort } from './timers';

describe('after', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  it('waits out a delay longer than a Node timer takes, instead of firing at once', async () => {
    const fired: number[] = [];
    after(MAX_TIMER_MS + 1000, () => fired.push(Date.now()));
    await jest.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(fired).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1000);
    expect(fired).toHaveLength(1);
  });

  it('a 30-day sleep resolves after 30 days, not after 1 ms', async () => {
    let done = false;
    void sleep(30 * 86_400_000).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(29 * 86_400_000);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(86_400_000);
    expect(done).toBe(true);
  });

  it('fires NaN and negative delays at the next turn, never Infinity; clear() stops it', async () => {
    const fired: string[] = [];
    after(NaN, () => fired.push('nan'));
    after(-5, () => fired.push('negative'));
    after(Infinity, () => fired.push('infinity'));
    after(10, () => fired.push('cleared')).clear();
    await jest.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(fired).toEqual(['nan', 'negative']);
  });

  it('withDeadline: the work if it settles in time, else the timeout error; a late result is ignored', async () => {
    await expect(withDeadline(Promise.resolve(1), 100, () => new Error('late'))).resolves.toBe(1);
    const never = withDeadline(new Promise(() => undefined), 100, () => new Error('late'));
    const outcome = never.catch((e: Error) => e.message);
    await jest.advanceTimersByTimeAsync(100);
    await expect(outcome).resolves.toBe('late');
  });
});

describe('onAbort', () => {
  it('gives one signal a single listener however many wait on it: no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      let called = 0;
      const stops = Array.from({ length: 1000 }, () => onAbort(controller.signal, () => called++));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      // Those that stopped listening are not called.
      for (const stop of stops.slice(0, 400)) stop();
      controller.abort();
      expect(called).toBe(600);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('calls a listener given twice twice, and nothing once the signal has aborted', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const listener = () => calls.push('x');
    onAbort(controller.signal, listener);
    onAbort(controller.signal, listener);
    controller.abort();
    controller.abort();
    expect(calls).toEqual(['x', 'x']);
  });
});
