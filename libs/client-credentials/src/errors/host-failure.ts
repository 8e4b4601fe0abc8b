/**
 * Failures that belong to this host, not to the authority every replica asks: a managed identity
 * endpoint's (IMDS, App Service, Azure Arc, Service Fabric are per host — IMDS throttles per VM —
 * even when the identity, its tokens and their lock are shared by replicas on other hosts).
 * Kept apart from the error's public fields: only the shared lock asks (see `isShareable`).
 */
const ofThisHost = new WeakSet<object>();

/** Marks `e` (an error of a managed identity endpoint) as this host's own; returns it. */
export function markHostFailure<E>(e: E): E {
  if (typeof e === 'object' && e !== null) ofThisHost.add(e);
  return e;
}

/** Whether `e` was marked by {@link markHostFailure} (or converted from an error that was). */
export function isHostFailure(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ofThisHost.has(e);
}
