import type { LoggerService } from '@nestjs/common';
import { guardedLogger } from './guarded-logger';

/** Unhandled rejections seen while `run` goes on and the microtasks after it drain. */
async function unhandledDuring(run: () => void): Promise<unknown[]> {
  const seen: unknown[] = [];
  const record = (reason: unknown) => void seen.push(reason);
  process.on('unhandledRejection', record);
  try {
    run();
    // Node reports an unhandled rejection after the microtask queue drains: give it a turn.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', record);
  }
  return seen;
}

describe('guardedLogger', () => {
  it('drops a line the logger throws on; the other levels still log', () => {
    const lines: unknown[] = [];
    const logger = guardedLogger({
      log: (m: unknown) => {
        lines.push(m);
      },
      warn: () => {
        throw new Error('cannot serialise');
      },
      error: () => undefined,
    });
    expect(() => {
      logger.warn('refresh failed');
    }).not.toThrow();
    logger.log('obtained');
    expect(lines).toEqual(['obtained']);
    expect(logger.debug).toBeUndefined();
  });

  it('drops a line an async logger rejects: no unhandled rejection', async () => {
    let calls = 0;
    const transportDown: LoggerService = {
      log: async () => undefined,
      error: async () => undefined,
      warn: async () => {
        calls++;
        await Promise.resolve();
        throw new Error('log transport down');
      },
    };
    // A thenable that is not a promise, rejecting as well.
    const thenable: LoggerService = {
      log: () => undefined,
      error: () => ({
        then: (_: unknown, onRejected?: (e: unknown) => void) => onRejected?.(new Error('down')),
      }),
      warn: () => undefined,
    };
    const unhandled = await unhandledDuring(() => {
      guardedLogger(transportDown).warn('A background refresh failed; retrying.');
      guardedLogger(thenable).error('A refresh failed.');
    });
    expect(calls).toBe(1);
    expect(unhandled).toEqual([]);
  });
});
