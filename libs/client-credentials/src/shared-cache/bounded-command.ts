import { now } from '../timing/clock';
import type { CommandCircuit } from './command-circuit';
import { CommandDeadline, OperationTimeout } from './command-deadline';
import type { RecoveryNotice } from './recovery-notice';
import { aclRefusalOf, type ConnectionFields } from './redis-errors';
import type { ErrorReporter, SharedCacheStats } from './shared-cache-stats';

/** What `run` answers when Redis could not be used. */
export const UNAVAILABLE: unique symbol = Symbol('redis unavailable');

/** What a command needs of its connection, read when it runs. */
export interface CommandContext {
  /** Whether commands can be sent now (the socket is open and ready). */
  readonly ready: () => boolean;
  /** Whether to send them to a connection that stopped answering (see {@link CommandCircuit}). */
  readonly circuit: CommandCircuit;
  /** Whether the connection is to a cluster (a failed command is then sent once more). */
  readonly cluster: () => boolean;
  readonly operationTimeoutMs: number;
  readonly stats: SharedCacheStats;
  readonly recovery: RecoveryNotice;
  readonly reporter: ErrorReporter;
  /** Has a cluster's slot map re-read; resolves when that is over. */
  readonly refreshTopology: () => Promise<void>;
  /** The options a command refused by the user's ACL is reported under. */
  readonly fields: ConnectionFields;
}

/**
 * Runs one command (or `commands` pipelined), bounded in time; never throws. On a cluster, a
 * command that fails (not one that is slow) is sent once more after the slot map was re-read,
 * within the same bound: the first command after a failover reaches the promoted replica
 * instead of failing. A command the user's ACL refused (NOPERM) is counted apart
 * (`refusedCommands`) and reported naming the command and the ACL fix: it is no passing trouble,
 * and would fail the same way on every call.
 */
export async function runBounded<T>(
  connection: CommandContext,
  what: string,
  op: () => Promise<T>,
  commands: number,
): Promise<T | typeof UNAVAILABLE> {
  const { stats, recovery, circuit } = connection;
  const ready = connection.ready();
  // A command timed out just now: not sent (the connection is open but Redis may hang), unless
  // it is the one probe that decides when Redis is usable again.
  const admission = ready ? circuit.admit() : 'skip';
  stats.connected = ready && !circuit.open;
  if (admission === 'skip') {
    // Reported by the connection's own error events, or as the timeout that opened the circuit;
    // counting each skipped call is enough.
    stats.errors++;
    recovery.failed();
    // A cluster open but with no master it can reach (its only master failed over, every node
    // moved) sends no command that could fail: its slot map is re-read from here (at most once
    // per TOPOLOGY_REFRESH_MS), or it would never find the promoted replica.
    if (!ready && connection.cluster()) void connection.refreshTopology();
    return UNAVAILABLE;
  }
  stats.commands += commands;
  const sentAt = now();
  const deadline = new CommandDeadline(what, connection.operationTimeoutMs);
  try {
    let result: T;
    try {
      result = await deadline.race(op);
    } catch (e) {
      if (!connection.cluster() || e instanceof OperationTimeout) throw e;
      await deadline.race(() => connection.refreshTopology());
      stats.commands += commands;
      result = await deadline.race(op);
    }
    circuit.answered();
    stats.connected = connection.ready();
    recovery.succeeded();
    return result;
  } catch (e) {
    if (e instanceof OperationTimeout) {
      stats.timeouts++;
      circuit.timedOut(sentAt);
      stats.connected = !circuit.open && connection.ready();
    } else {
      circuit.answered();
    }
    recovery.failed();
    const refused = aclRefusalOf(e, connection.fields);
    if (refused !== undefined) stats.refusedCommands++;
    connection.reporter.report(what, refused ?? e);
    void connection.refreshTopology();
    return UNAVAILABLE;
  } finally {
    deadline.clear();
  }
}
