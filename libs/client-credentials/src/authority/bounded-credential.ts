import { ClientCredentialsError } from '../errors/client-credentials.errors';
import { withDeadline } from '../timing/timers';
import type { MsalClientCredential, TokenSource } from './source-client';

/**
 * The msal credential of `source`, its client assertion bounded by twice `ms`
 * (`timeouts.requestMs`): a backstop for sources without a bound of their own. A signer's calls
 * (its certificate, then a signature) and the app's `getAssertion` are each bounded by `ms` and
 * fail first, with their own words.
 * Making a credential is the source's own work — a file read, a signature, the app's callback —
 * and one that never answers (a FIFO or a hung mount as the token file, a signer that hangs)
 * would hold every token request of the credential and never let the chain reach its next
 * source. Past the bound the request fails as `source_unavailable` (transient): the chain moves on
 * and skips the source for its cool-down (kept in `skippedSources`). The network's time is not in it: an
 * authority that is slow is an outage (`timeout`), not a reason to change identity.
 */
export function boundedCredential(source: TokenSource, ms: number): MsalClientCredential {
  const bound = 2 * ms;
  const credential = source.msalCredential();
  if (!('clientAssertion' in credential)) return credential;
  const make = credential.clientAssertion;
  return {
    clientAssertion: (config) =>
      withDeadline(
        (async () => make(config))(),
        bound,
        () =>
          new ClientCredentialsError(
            'source_unavailable',
            `Credential source '${source.id}' is unavailable: it did not make its client assertion within ${bound} ms (twice timeouts.requestMs).`,
            {},
            // A hang may pass (a mount back, a signer answering): a chain of one tries again.
            true,
          ),
      ),
  };
}
