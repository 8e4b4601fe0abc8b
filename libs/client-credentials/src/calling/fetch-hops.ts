import type { AccessToken } from '../access-token';
import type { TokenService } from '../token.service';
import { authorizationOf, nonceAnswer, type ApiNonce } from './dpop-proof';
import type { OriginPolicy } from './origin-policy';
import {
  droppedOnRedirect,
  REDIRECTS,
  redirectedMethod,
  redirectRefused,
  redirectTarget,
} from './redirect-hop';
import { isReplayableBody } from './resend';

/** One request of a call: the caller's, or a redirect hop (its headers without the token's). */
export interface Hop {
  readonly url: URL;
  readonly method: string;
  readonly body: RequestInit['body'];
  readonly headers: Headers;
}

/** An answer, and what is known of the request it answers. */
export interface Sent {
  readonly res: Response;
  /** Whether the answer came from a hop that got the token (only such a 401 is about it). */
  readonly carried: boolean;
  /** The DPoP nonce the answered hop's proof signed. */
  readonly nonce?: string;
  /**
   * The request to send again for this answer (another nonce, a new token): the caller's as it
   * was, or after a hop that changed it, that hop; none when unknown.
   */
  readonly resend?: Hop;
}

/** What every hop of one authenticated fetch is sent with. */
export interface HopTransport {
  readonly tokens: TokenService;
  readonly policy: OriginPolicy;
  readonly fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /** The caller's `dispatcher`, as `init` members (empty without one). */
  readonly through: RequestInit;
  /** The CA the API is trusted through on a certificate-bound token's connections. */
  readonly ca: string | string[] | undefined;
  readonly maxRedirects: number;
  /** The API's current DPoP nonce, shared by the fetch's calls. */
  readonly nonce: ApiNonce;
}

/**
 * Sends `start` with `token`, following redirects: the token only ever goes to the API's origin,
 * with what binds it (a DPoP proof of each hop, the certificate's connection), and the caller's
 * headers go as fetch's own redirects carry them ({@link droppedOnRedirect}), from hop to hop.
 */
export async function sendHops(
  t: HopTransport,
  start: Hop,
  init: RequestInit,
  token: AccessToken,
): Promise<Sent> {
  const { tokens, policy, nonce } = t;
  let current = start.url;
  let method = start.method;
  let body = start.body;
  const headers = new Headers(start.headers);
  if (body === undefined) headers.delete('content-type');
  let carry = true;
  let rewritten = false;
  for (let redirects = 0; ; redirects++) {
    const hopHeaders = new Headers(headers);
    carry &&= policy.mayCarryToken(current);
    // The nonce this hop's proof is signed with (DPoP): a 401 asking for another one is re-sent.
    const sentNonce = nonce.value;
    // A certificate-bound token goes over a connection presenting its certificate.
    let through = t.through;
    if (carry) {
      // A DPoP-bound token goes with a proof of this hop: its method and URL.
      const auth = authorizationOf(tokens, token, method, current, nonce);
      hopHeaders.set('authorization', auth.authorization);
      if (auth.dpop !== undefined) hopHeaders.set('dpop', auth.dpop);
      const certificate = tokens.boundCertificate(token);
      if (certificate !== undefined) {
        // Cast: the DOM type names the dispatcher of undici-types, not of undici.
        through = { dispatcher: certificate.dispatcher({ ca: t.ca }) } as unknown as RequestInit;
      }
    } else {
      hopHeaders.delete('authorization');
      if (token.tokenType === 'DPoP') hopHeaders.delete('dpop');
    }
    const res = await t.fetch(current, {
      ...init,
      ...through,
      method,
      body,
      headers: hopHeaders,
      redirect: 'manual',
    });
    const last: Hop = { url: current, method, body, headers };
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null || init.redirect === 'manual') {
      // A fetch that followed redirects itself (ignoring 'manual') answers from wherever they
      // led: only its final URL says whether that hop got the token, and nothing says how the
      // hops changed the request — one not safe to repeat is then not re-sent.
      const unseen = res.redirected && method !== 'GET' && method !== 'HEAD';
      return {
        res,
        carried: carry && (res.url === '' || policy.mayCarryToken(new URL(res.url))),
        nonce: sentNonce,
        resend: unseen ? undefined : rewritten ? last : start,
      };
    }
    // A 3xx of the API may rotate its DPoP nonce: the next hop's proof signs the new one.
    if (carry) nonceAnswer(token, res.status, (n) => res.headers.get(n), nonce, sentNonce);
    const next = redirectTarget(location, current);
    // 307 and 308 keep method and body: a body that cannot be sent again (a stream the first
    // hop consumed) is not followed with nothing in its place — the same rule as a re-send.
    const spent =
      (res.status === 307 || res.status === 308) && body != null && !isReplayableBody(body);
    if (init.redirect === 'error' || redirects >= t.maxRedirects || next === undefined || spent) {
      await res.body?.cancel();
      throw redirectRefused(start, res.status, next, spent, init.redirect, t.maxRedirects);
    }
    await res.body?.cancel();
    const after = redirectedMethod(res.status, method);
    if (after.dropsBody) body = undefined;
    for (const name of droppedOnRedirect(current, next, body === undefined)) {
      headers.delete(name);
    }
    rewritten ||= after.dropsBody;
    current = next;
    method = after.method;
  }
}
