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

/** What `useFixtures` hands back for each start: the fixture it resolves to. */
type Started<T extends readonly (() => Promise<Fixture>)[]> = {
  -readonly [K in keyof T]: Awaited<ReturnType<T[K]>>;
};

/**
 * A suite's fixtures, started together in `beforeAll` (through {@link startAll}, so a failed start
 * leaks none of the others) and released in `afterAll` (through {@link releaseAll}, in the order
 * given). Returns a stand-in per fixture, usable in hooks and tests as the fixture itself: it
 * forwards every property read and method call to the started fixture, and throws, naming the
 * start, when read before `beforeAll` started it or after its start failed.
 *
 * Jest runs a block's `afterAll` hooks in the order they were declared, and a file's top-level ones
 * after those of its `describe` blocks: call it at the top of the file (or first in the `describe`
 * whose own `afterAll` needs none of them) so that the suite's apps and clients close first.
 * @example
 * const [authority] = useFixtures(startDevAuthority);
 * const [authority, redis] = useFixtures(startDevAuthority, startRedisServer);
 */
export function useFixtures<const T extends readonly (() => Promise<Fixture>)[]>(
  ...starts: T
): Started<T> {
  let started: Fixture[] | undefined;
  let failed = false;
  beforeAll(async () => {
    failed = true;
    started = await startAll(starts.map((start) => start()));
    failed = false;
  });
  afterAll(async () => {
    const fixtures = started;
    started = undefined;
    await releaseAll(...(fixtures ?? []));
  });
  return starts.map((start, i) =>
    standIn(() => {
      if (started !== undefined) return started[i];
      const name = start.name || 'a fixture';
      throw new Error(
        failed
          ? `${name}: not running, the suite's fixtures failed to start (the reason is reported above)`
          : `${name}: not running, used outside the suite's tests and hooks`,
      );
    }),
  ) as unknown as Started<T>;
}

/** An object that forwards to `current()`: methods are called on it, getters read from it. */
function standIn(current: () => object): object {
  return new Proxy(
    {},
    {
      get(_, key) {
        const target = current();
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
      set: (_, key, value) => Reflect.set(current(), key, value),
      has: (_, key) => key in current(),
    },
  );
}
