/**
 * Thrown by {@link CrossProcessFlight.run} instead of fetching when Redis cannot be used and the
 * caller can wait (a background refresh of a token with time left): every replica would otherwise
 * fetch the token for itself — during a failover, all at once. Not a failure: the refresh is tried
 * again (at the latest once Redis is back), and the token stays in use meanwhile.
 */
export class RefreshHeld extends Error {
  /** Read by the tracing (which does not import this layer): a held refresh is not an error span. */
  readonly held = true;

  constructor(
    /** Until when (library clock) the refresh may wait: it fetches for itself from then on. */
    readonly until: number,
  ) {
    super('The shared cache cannot be used now; the refresh waits for it.');
    this.name = 'RefreshHeld';
  }
}
