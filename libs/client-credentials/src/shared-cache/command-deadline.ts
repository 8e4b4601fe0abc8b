/** A command slower than its deadline is given up. */
export class OperationTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'OperationTimeout';
  }
}

/**
 * One deadline for the attempts of one Redis command (a cluster's command may be sent twice):
 * each {@link race} rejects with {@link OperationTimeout} once `ms` have passed since it was set.
 */
export class CommandDeadline {
  readonly #bound: Promise<never>;
  #timer?: NodeJS.Timeout;

  constructor(what: string, ms: number) {
    this.#bound = new Promise<never>((_, reject) => {
      this.#timer = setTimeout(() => reject(new OperationTimeout(what, ms)), ms);
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
  }
}
