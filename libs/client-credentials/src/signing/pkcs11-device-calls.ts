import { SignerError } from './signer-error';

/**
 * The most signatures that may be inside PKCS#11 modules at once in the process, counting those
 * whose callers timed out but whose native call has not returned. pkcs11js runs `C_SignAsync` on
 * libuv's thread pool (`UV_THREADPOOL_SIZE`, 4 threads by default), which `fs`, `dns.lookup`, zlib
 * and async crypto share, and a native call cannot be cancelled: a device that hangs keeps each
 * call's thread until it answers, whatever the caller's timeout. Two leave the rest of the process
 * half of the default pool, and are plenty for a device that answers: a signature takes
 * milliseconds and an assertion is reused for 5 minutes per tenant.
 */
export const MAX_DEVICE_CALLS = 2;

/** A call holding one of the places: `abandoned` once its caller stopped waiting. */
interface Held {
  readonly module: string;
  abandoned: boolean;
}

interface Waiter {
  start(): void;
  fail(error: SignerError): void;
}

/**
 * Counts the calls into PKCS#11 devices that have not returned and keeps them within a bound. A
 * call beyond it waits for a place while the calls holding them are running (a busy device
 * answers soon), and fails at once — transient, naming the module — when every place is held by
 * a call whose caller left: the device is not answering, and queueing behind it would only hang
 * the caller. A place is freed when its native call returns, not when its caller leaves.
 */
export class DeviceCalls {
  readonly #held = new Set<Held>();
  readonly #waiting: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Calls not returned yet: running, or left by their callers. */
  get pending(): number {
    return this.#held.size;
  }

  /** Calls into `module` whose callers left and that have not returned: the device hangs. */
  unanswered(module: string): number {
    let n = 0;
    for (const h of this.#held) if (h.abandoned && h.module === module) n++;
    return n;
  }

  /**
   * `call` once a place is free, holding it until `call` settles. When `signal` aborts, the
   * caller is rejected with its reason at once; a call already started keeps its place, counted
   * as abandoned, until it returns (its result is dropped).
   * @throws SignerError (transient) when every place is held by a call whose caller left
   */
  run<T>(module: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an AbortSignal's reason is the caller's to choose
        reject(signal.reason);
        return;
      }
      let held: Held | undefined;
      const done = () => signal?.removeEventListener('abort', leave);
      const waiter: Waiter = {
        start: () => {
          const h: Held = { module, abandoned: false };
          held = h;
          this.#held.add(h);
          const settle = () => {
            done();
            this.#held.delete(h);
            this.next();
          };
          let running: Promise<T>;
          try {
            running = call();
          } catch (e) {
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the call's own error, passed on as thrown
            running = Promise.reject(e);
          }
          running.then(
            (value) => {
              settle();
              resolve(value);
            },
            (e: unknown) => {
              settle();
              // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the call's own error, passed on as thrown
              reject(e);
            },
          );
        },
        fail: (error) => {
          done();
          reject(error);
        },
      };
      const leave = () => {
        if (held === undefined) {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
        } else {
          held.abandoned = true;
          if (this.stuck()) for (const w of this.#waiting.splice(0)) w.fail(this.refusal());
        }
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- as above
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', leave, { once: true });
      if (this.#held.size < this.limit) waiter.start();
      else if (this.stuck()) waiter.fail(this.refusal());
      else this.#waiting.push(waiter);
    });
  }

  /** Starts waiting calls while places are free. */
  private next(): void {
    while (this.#held.size < this.limit && this.#waiting.length > 0) this.#waiting.shift()!.start();
  }

  /** Every place is held by a call whose caller left. */
  private stuck(): boolean {
    if (this.#held.size < this.limit) return false;
    for (const h of this.#held) if (!h.abandoned) return false;
    return true;
  }

  private refusal(): SignerError {
    const modules = [...new Set([...this.#held].map((h) => `'${h.module}'`))].join(', ');
    return new SignerError(
      `modulePath: the PKCS#11 module ${modules} has not answered ${this.#held.size} signature(s) whose callers timed out (timeouts.requestMs) — a call into a device cannot be cancelled and holds one of libuv's threads (UV_THREADPOOL_SIZE, 4 by default, shared with fs, dns.lookup, zlib and crypto) until it returns, so no more than ${this.limit} are sent to PKCS#11 devices at once: check the device and its link (an HSM that hangs, a network HSM out of reach); signing resumes by itself once it answers`,
      true,
    );
  }
}

/**
 * The process's calls into PKCS#11 devices, for every signer and module: the thread pool they
 * would fill is the process's.
 */
export const deviceCalls = new DeviceCalls(MAX_DEVICE_CALLS);
