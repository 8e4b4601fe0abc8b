/**
 * The longest delay a Node timer takes: a longer one fires after 1 ms (with a warning), so a
 * monthly delay would become a busy loop.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer armed by {@link after}. */
export interface Timer {
  /** Stops it; calling it after the timer fired does nothing. */
  clear(): void;
}

/**
 * Calls `fn` once `ms` have passed, on an unref'd timer (it never keeps the process alive). Any
 * delay is safe: one past {@link MAX_TIMER_MS} is waited out in steps instead of firing at once,
 * a negative one or NaN fires at the next turn, `Infinity` never fires. Every delay the library
 * computes goes through here.
 */
export function after(ms: number, fn: () => void): Timer {
  if (ms === Infinity) return { clear: () => undefined };
  let left = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  let timer: NodeJS.Timeout;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = setTimeout(left > 0 ? arm : fn, step);
    timer.unref();
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}

/**
 * `work`, or the error of `timeout()` once `ms` have passed, whichever settles first. The work is
 * not stopped (a promise cannot be), only no longer awaited: a callback that never settles, a store
 * that never answers, cannot hold whoever waits for it past the deadline.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = after(ms, () => reject(timeout()));
    work.then(
      (value) => {
        timer.clear();
        resolve(value);
      },
      (error: Error) => {
        timer.clear();
        reject(error);
      },
    );
  });
}

/** Per caller signal, the library's listeners of its abort (see {@link onAbort}). */
const abortListeners = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `listener` when `signal` aborts (not if it has already); the returned function stops
 * listening. However many calls wait on one signal at once — an app's shutdown signal handed to
 * every call, a thousand concurrent callers — the signal gets one listener of the library's:
 * a listener each would pass EventTarget's limit of 10 and print Node's
 * MaxListenersExceededWarning ("possible memory leak") in the app's log for what is no leak.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  let listeners = abortListeners.get(signal);
  if (listeners === undefined) {
    const all = (listeners = new Set());
    abortListeners.set(signal, all);
    signal.addEventListener(
      'abort',
      () => {
        abortListeners.delete(signal);
        for (const each of all) each();
      },
      { once: true },
    );
  }
  const own = listeners;
  // A wrapper, so that one listener given twice is called twice and stopped once each.
  const entry = () => listener();
  own.add(entry);
  return () => own.delete(entry);
}
