import { now } from '../timing/clock';

/** How long commands are not sent after one timed out, before one is sent to probe Redis. */
export const QUIET_MS = 250;

/** What to do with a command: send it, send it as the probe, or answer "unavailable" at once. */
export type Admission = 'send' | 'probe' | 'skip';

/**
 * Whether commands are sent to a Redis that stopped answering. A Redis that hangs (a frozen VM, a
 * partition that drops packets) keeps its socket open: the client stays ready, and every command
 * would wait out `operationTimeoutMs` — each cold miss paying it for each of its commands, for as
 * long as TCP keeps the socket (minutes). So once a command *sent after* a first timeout times out
 * too — Redis silent twice in a row, not one latency spike (a fork for a snapshot, a GC pause of
 * this process) that every command in flight at that moment shares — commands are answered
 * "unavailable" without being sent for {@link QUIET_MS}; then one command is sent as the probe
 * (the others still not sent): an answer means Redis is usable again, another timeout means
 * {@link QUIET_MS} more. Any answer closes it, even an error reply: Redis is not silent then.
 * (A state machine of four fields: no library of the ecosystem fits a per-connection check this
 * small without timers of its own.)
 */
export class CommandCircuit {
  #open = false;
  #probeAt = 0;
  #probing = false;
  /** When a command timed out with no answer since (library clock), or undefined. */
  #silentSince: number | undefined;

  constructor(private readonly quietMs = QUIET_MS) {}

  /** Whether commands are being held back (Redis timed out, and no probe has answered since). */
  get open(): boolean {
    return this.#open;
  }

  /** Whether the next command is sent; `probe` to at most one at a time, once quiet is over. */
  admit(): Admission {
    if (!this.#open) return 'send';
    if (this.#probing || now() < this.#probeAt) return 'skip';
    this.#probing = true;
    return 'probe';
  }

  /**
   * A command sent at `sentAt` (library clock) timed out: the circuit opens (or stays quiet from
   * now) when it was sent after an earlier timeout was seen; a first timeout only marks Redis
   * suspect.
   */
  timedOut(sentAt: number): void {
    const t = now();
    if (!this.#open && (this.#silentSince === undefined || sentAt < this.#silentSince)) {
      this.#silentSince ??= t;
      return;
    }
    this.#open = true;
    this.#probing = false;
    this.#probeAt = t + this.quietMs;
  }

  /** Redis answered a command; true when that closed the circuit (Redis usable again). */
  answered(): boolean {
    const was = this.#open;
    this.#open = false;
    this.#probing = false;
    this.#silentSince = undefined;
    return was;
  }
}
