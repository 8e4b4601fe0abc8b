import type { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { Acquired, Trigger } from './token-fetch';

/**
 * A flight under a token's key (see `TokenAcquirer`): a caller's, which callers of the token
 * join, or a background refresh, which a caller flight rides (and then takes its place).
 */
export interface Flight {
  readonly trigger: Trigger;
  readonly promise: Promise<Acquired>;
  /** A caller flight rides this refresh: its failure is the caller flight's to report. */
  ridden: boolean;
}

/**
 * A flight's failure, told once: at its deadline, or when its work fails — not both. A flight
 * abandoned at its deadline that fails later reports nothing more: no second `failure` event, no
 * second failure counted in the cool-down (which might restart it after a newer flight succeeded).
 */
export function reportOnce(
  report: (error: ClientCredentialsError) => ClientCredentialsError,
): (error: ClientCredentialsError) => ClientCredentialsError {
  let reported = false;
  return (error) => {
    if (reported) return error;
    reported = true;
    return report(error);
  };
}
