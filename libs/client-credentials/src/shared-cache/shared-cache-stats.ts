import type { LoggerService } from '@nestjs/common';
import { now } from '../timing/clock';

/**
 * Counters of the shared (Redis) token cache, readable through `TokenService.getCacheStats()`.
 * @publicApi
 */
export interface SharedCacheStats {
  /** Whether the Redis connection is ready now. */
  connected: boolean;
  /**
   * Redis commands this replica sent (a pipelined read of several names counts each; a lock
   * script counts once, whatever it calls inside).
   */
  commands: number;
  /** Entries read from Redis and opened. */
  reads: number;
  /** Entries written to Redis. */
  writes: number;
  /** Entries that failed to decrypt or authenticate (tampered, corrupt, wrong key): treated as misses. */
  rejectedEntries: number;
  /** Entries sealed under a key id none of `encryptionKeys` has: treated as misses. */
  unknownKeyEntries: number;
  /** Redis commands that failed, timed out or were skipped while disconnected, and connection errors. */
  errors: number;
  /** Redis commands that took longer than `operationTimeoutMs`. */
  timeouts: number;
  /**
   * Of `errors`, the commands the Redis user's ACL refused (NOPERM): not a passing failure — the
   * shared cache does not work until the ACL allows them (the log names the command). Startup
   * checks the ACL, so this counts only an ACL changed since, or one not checked because Redis
   * was not reachable at startup.
   */
  refusedCommands: number;
  /** Token fetches done under the cross-process lock. */
  lockAcquired: number;
  /** Acquisitions that waited for another replica's token. */
  lockWaits: number;
  /** Of those, the ones that got it from Redis. */
  lockWaitHits: number;
  /** Of those, the ones that gave up after `lockWaitMs` and fetched themselves. */
  lockWaitTimeouts: number;
  /** Of those, the ones that got the lock holder's failure and threw it without a request. */
  lockWaitFailures: number;
  /** Times this replica pushed back the expiry of a lock it held while its fetch ran. */
  lockExtensions: number;
  /**
   * Background refreshes put off because Redis could not be used (an outage, a failover): tried
   * again once it is back, so that one replica fetches for all, while the token has time left.
   */
  refreshesHeld: number;
  /** Sentinel master switches this replica followed as the sentinels announced them. */
  masterSwitches: number;
}

/** Fresh counters. */
export function newSharedCacheStats(): SharedCacheStats {
  return {
    connected: false,
    commands: 0,
    reads: 0,
    writes: 0,
    rejectedEntries: 0,
    unknownKeyEntries: 0,
    errors: 0,
    timeouts: 0,
    refusedCommands: 0,
    lockAcquired: 0,
    lockWaits: 0,
    lockWaitHits: 0,
    lockWaitTimeouts: 0,
    lockWaitFailures: 0,
    lockExtensions: 0,
    refreshesHeld: 0,
    masterSwitches: 0,
  };
}

/**
 * Counts every Redis problem and logs them at a sane rate: the first at once, then one summary
 * per interval at most — an outage must not flood the logs with one line per call.
 */
export class ErrorReporter {
  private lastLogAt = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly stats: SharedCacheStats,
    private readonly logger: LoggerService,
    private readonly intervalMs: number,
  ) {}

  report(what: string, error: unknown): void {
    this.stats.errors++;
    // On the monotonic clock: a wall clock set back must not silence the log for as long.
    const time = now();
    if (time - this.lastLogAt < this.intervalMs) {
      this.unlogged++;
      return;
    }
    const more = this.unlogged > 0 ? ` (${this.unlogged} more since the last report)` : '';
    this.lastLogAt = time;
    this.unlogged = 0;
    this.logger.warn?.(
      `Shared token cache: ${what} failed${more}; serving from memory and the authority meanwhile. ${describe(error)}`,
    );
  }

  /** Logs a warning about the setup (not a failure: nothing is counted), once per call. */
  notice(message: string): void {
    this.logger.warn?.(`Shared token cache: ${message}`);
  }

  /** Logs a recovery; resets the rate so that the next outage is reported at once. */
  recovered(message: string): void {
    this.lastLogAt = -Infinity;
    this.unlogged = 0;
    this.logger.log?.(`Shared token cache: ${message}`);
  }
}

// Only the message: a Redis error may carry the command's arguments (sealed entries, keys).
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
