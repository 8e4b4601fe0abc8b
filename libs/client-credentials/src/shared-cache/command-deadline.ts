/** A command slower than its deadline is given up. */
export class OperationTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'OperationTimeout';
  }
}

/**
 * One deadline for the attempts of one Redis command (a cluster's command may be sent twice):
 * each {@link race} rejects with {@link OperationTimeout} once `ms` have passed since it was set,
 * unless the answer is already there. A process whose event loop was held up past the deadline
 * (a burst of work, a GC pause, a CPU shared with others) finds the timer and Redis's answer ready
 * together, and timers run first: the timeout is declared in the next check phase instead, after
 * the loop has read its sockets, so that an answer that came in time wins. A command is slow when
 * Redis is slow, not when this process was.
 */
export class CommandDeadline {
  readonly #bound: Promise<never>;
  #timer?: NodeJS.Timeout;
  #check?: NodeJS.Immediate;

  constructor(what: string, ms: number) {
    this.#bound = new Promise<never>((_, reject) => {
      this.#timer = setTimeout(() => {
        this.#check = setImmediate(() => reject(new OperationTimeout(what, ms)));
      }, ms);
    });
    this.#bound.catch(() => undefined);
  }

  /**
   * `op()`, or the timeout. An op that throws at once (a closed client) is a failure like any
   * other; one given up on may still fail later, and that rejection is nobody's to handle.
   */
  race<T>(op: () => Promise<T> | T): Promise<T> {
    const p = (async () => op())();
    p.catch(() => undefined);
    return Promise.race([p, this.#bound]);
  }

  clear(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#check);
  }
}
