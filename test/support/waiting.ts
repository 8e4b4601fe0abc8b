/** Waits `ms` milliseconds (real timers). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every 25 ms until it holds; fails after `ms`. For what happens in the background
 * (a refresh, an event): the test asserts the outcome, the bound only keeps a broken run short.
 */
export async function eventually(check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await sleep(25);
  }
}
