import type { AccessToken } from '../../access-token';
import type { TokenService } from '../../token.service';
import { authorizationOf, nonceAnswer, type ApiNonce } from '../dpop-proof';
import type { OriginPolicy } from '../origin-policy';
import type { CallState, Config } from './call-state';

/** Marks the interceptor's `beforeRedirect`, holding the app's own: a re-send wraps that, once. */
const APP_HOOK = Symbol("the app's beforeRedirect");
type RedirectHook = NonNullable<Config['beforeRedirect']> & {
  [APP_HOOK]?: Config['beforeRedirect'];
};
type RedirectOptions = {
  headers?: Record<string, unknown>;
  href?: string;
  protocol?: string;
  host?: string;
};

/** What a request's redirects are judged by (the http adapter's: follow-redirects). */
export interface RedirectContext {
  readonly tokens: TokenService;
  readonly policy: OriginPolicy;
  /** The API's DPoP nonce, shared by the instance's requests. */
  readonly nonce: ApiNonce;
}

/**
 * Sets `config.beforeRedirect` to the rules of the token on redirects the http adapter
 * (follow-redirects) follows by itself: follow-redirects keeps `Authorization` on a subdomain;
 * the token stays on this exact origin, and a DPoP-bound token's hop gets a proof of its own (a
 * proof names its URL and method), signing the nonce the API's 3xx rotated. The app's own hook
 * runs first — it cannot put back what the rules take from a hop — and a re-send's config, which
 * holds the hook of its earlier send, wraps the app's, not that one.
 */
export function guardHttpRedirects(
  c: RedirectContext,
  config: Config,
  state: CallState,
  token: AccessToken,
  method: string,
): void {
  const { tokens, policy, nonce } = c;
  const hook = config.beforeRedirect as RedirectHook | undefined;
  const theirs = hook !== undefined && APP_HOOK in hook ? hook[APP_HOOK] : hook;
  const ours: RedirectHook = (redirect, responseDetails, requestDetails) => {
    theirs?.(redirect, responseDetails, requestDetails);
    const options = redirect as RedirectOptions;
    // The API may rotate its DPoP nonce with any answer, a 3xx included: the next hop's proof
    // signs the newest one.
    if (!state.leftOrigin && token.tokenType === 'DPoP') {
      const answer = responseDetails as { headers?: Record<string, unknown> } | undefined;
      const header = (name: string) => {
        const value = answer?.headers?.[name];
        return typeof value === 'string' ? value : undefined;
      };
      nonceAnswer(token, 0, header, nonce, undefined);
    }
    let origin: string | undefined;
    try {
      origin = new URL(options.href ?? `${options.protocol}//${options.host}`).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== policy.origin) {
      // The answer will be another origin's: a 401 of it says nothing of our token.
      state.leftOrigin = true;
      for (const name of Object.keys(options.headers ?? {})) {
        const lower = name.toLowerCase();
        if (lower === 'authorization' || (lower === 'dpop' && token.tokenType === 'DPoP')) {
          delete options.headers![name];
        }
      }
    } else if (token.tokenType === 'DPoP' && options.headers !== undefined) {
      // Another URL of the API: a proof of this hop.
      const hop = (redirect as { method?: string }).method ?? method;
      const href = options.href ?? `${options.protocol}//${options.host}`;
      for (const name of Object.keys(options.headers)) {
        if (name.toLowerCase() === 'dpop') delete options.headers[name];
      }
      options.headers.DPoP = authorizationOf(tokens, token, hop, href, nonce).dpop;
      state.nonce = nonce.value;
    }
  };
  ours[APP_HOOK] = theirs;
  config.beforeRedirect = ours;
}
