import type { AccessToken } from '../access-token';
import type { TokenService } from '../token.service';
import {
  parseBearerChallenge,
  targetOptions,
  tokenAfterChallenge,
  type TokenTarget,
} from './challenge';

/**
 * Whether a request body can be sent a second time, the same: the rule of every integration
 * (fetch, axios) for re-sending after a 401. Yes for no body and for bodies held in memory —
 * strings, `ArrayBuffer`s and their views (`Buffer`, typed arrays, `DataView`), `Blob`s (and
 * `File`s), `URLSearchParams`, a spec `FormData` (strings and blobs); no for anything read as it
 * is sent — Node and web streams, (async) iterables, the `form-data` package's forms (streams) —
 * and for any other object, which this rule cannot vouch for: a re-send of a body already read
 * sends what is left of it (nothing, for a stream), and the API would take that for the request.
 */
export function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
}

/** A 401 to a request that carried the API's token. */
export interface Refusal {
  /** The answer's `WWW-Authenticate` header(s). */
  readonly challenge: string | readonly string[] | null | undefined;
  /**
   * Whether the answer is the API's own: its origin answered, at a hop that got the token. Any
   * other origin's 401 (after a redirect) says nothing of the token, and must not make the app
   * withdraw it or fetch tokens — with claims of that origin's choosing.
   */
  readonly fromApi: boolean;
  /** The request's body: it is re-sent only if {@link isReplayableBody}. */
  readonly body: unknown;
  /**
   * False when the request cannot be sent again whatever its body — a fetch that followed
   * redirects itself, unseen, of a request that is not safe to repeat: the hop the 401 answers is
   * unknown (a 303 after a processed POST?). Then it is handled as a one-shot body.
   * @default true
   */
  readonly resendable?: boolean;
}

/**
 * The token to re-send a refused request with, and the challenge's error; no token when the
 * request is not to be re-sent (the caller then gets the API's 401 as it was):
 * - another origin's answer: nothing is done;
 * - a challenge a new token answers (`invalid_token`, `insufficient_claims` with claims) and a
 *   body that can be sent again: the new token ({@link tokenAfterChallenge});
 * - the same with a one-shot body (a stream): the refused token is withdrawn, without a token
 *   request now — none can be used for this request — so that the caller's next request (a new
 *   stream) gets a new token instead of the same refusal.
 */
export async function tokenToResend(
  tokens: TokenService,
  target: TokenTarget,
  refused: AccessToken,
  refusal: Refusal,
  signal?: AbortSignal,
): Promise<{ token?: AccessToken; error?: string }> {
  if (!refusal.fromApi) return {};
  // A DPoP-bound token is refused in a challenge of its own scheme (RFC 9449 §7.1).
  const challenge = parseBearerChallenge(
    refusal.challenge,
    refused.tokenType === 'DPoP' ? 'DPoP' : 'Bearer',
  );
  if (refusal.resendable !== false && isReplayableBody(refusal.body)) {
    const token = await tokenAfterChallenge(tokens, target, refused, challenge, signal);
    return { token, error: challenge?.error };
  }
  const answerable =
    challenge?.error === 'invalid_token' ||
    (challenge?.error === 'insufficient_claims' && challenge.claims !== undefined);
  if (answerable) {
    tokens.forgetRefusedToken(
      target.scopes,
      refused.token,
      targetOptions(target, { claims: challenge?.claims }),
    );
  }
  return { error: challenge?.error };
}
