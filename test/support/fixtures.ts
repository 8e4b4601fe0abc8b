/**
 * Starting and stopping a suite's servers so that a failed start never leaves anything running.
 *
 * Why: `[authority, redis] = await Promise.all([startDevAuthority(), startRedisServer()])` rejects
 * as soon as Redis fails, before the authority — already listening — is assigned; `afterAll` then
 * sees `authority` undefined, never closes it, and its socket keeps jest from exiting. The same
 * happens when an `afterAll` throws on the first fixture that never started and skips the rest.
 */

/** Something a suite started: a server (`close`), a Redis (`stop`) or a client (`destroy`). */
export type Fixture = { close(): unknown } | { stop(): unknown } | { destroy(): unknown };

async function release(fixture: Fixture): Promise<void> {
  if ('stop' in fixture) await fixture.stop();
  else if ('close' in fixture) await fixture.close();
  else await fixture.destroy();
}

/**
 * `Promise.all` for fixture starts: resolves to all of them, or — when any fails — waits for the
 * others to settle, releases those that did start, and rejects with the first failure.
 * @example
 * [authority, redis] = await startAll([startDevAuthority(), startRedisServer()]);
 */
export async function startAll<const T extends readonly Promise<Fixture>[]>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failed === undefined) return started as { -readonly [K in keyof T]: Awaited<T[K]> };
  await Promise.allSettled(started.map(release));
  throw failed.reason;
}

/**
 * Releases every fixture that was started, in the order given, skipping those still undefined
 * (a `beforeAll` that failed part way): each is released even when an earlier one throws; the
 * first error is rethrown at the end.
 * @example
 * afterAll(() => releaseAll(app, http, authority));
 */
export async function releaseAll(...fixtures: (Fixture | undefined | null)[]): Promise<void> {
  let first: unknown;
  let failed = false;
  for (const fixture of fixtures) {
    if (fixture === undefined || fixture === null) continue;
    try {
      await release(fixture);
    } catch (e) {
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}
