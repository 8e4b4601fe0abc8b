// Types only: axios is an optional peer, never loaded by this library — the app passes its instance.
import type { AxiosError, AxiosInstance, AxiosResponse } from 'axios';
import type { TokenService } from '../../token.service';
import { targetOptions, type TokenTarget } from '../challenge';
import { OriginPolicy } from '../origin-policy';
import { isReplayableBody, tokenToResend } from '../resend';
import { authorizationOf, nonceAnswer, type ApiNonce } from '../dpop-proof';
import { redactConfig, type Config } from './call-state';
import { asCancellation } from './cancellation';
import { CertificateAgents } from './certificate-agents';
import { followsRedirects, redirectHop } from './fetch-redirects';
import { answeredAt, recordingFetch, viaFetch } from './final-url';
import { guardHttpRedirects, type RedirectContext } from './http-redirects';
import { release, resendOf } from './last-hop';

/**
 * Options of {@link useClientCredentials}.
 * @publicApi
 */
export interface AxiosClientCredentialsOptions extends TokenTarget {
  /**
   * The API's base URL: requests to its origin (https) get its token; requests to any other origin
   * go out untouched, without it. A relative `url` that axios joins to the request's `baseURL`
   * must stay under that `baseURL`'s path once `..` is resolved: `../payments` is refused
   * (`DownstreamApiError` `origin_refused`) before a token is fetched.
   */
  baseUrl: string;
  /**
   * Allow plain http to a loopback host (127.0.0.1, localhost, [::1]) — a local test API.
   * @default false
   */
  allowInsecureLoopback?: boolean;
  /**
   * The CA certificate(s) (PEM) the API is trusted through, besides the public roots, on the
   * connections that present the certificate a token is bound to (a credential with `mtls`).
   * @default the `ca` of the request's own `httpsAgent` (`http2Options` with `httpVersion: 2`),
   *   else the public roots
   */
  ca?: string | string[];
}

/** The methods a redirect never rewrites into another request (fetch's and follow-redirects' rules). */
const KEPT_BY_REDIRECTS = new Set(['GET', 'HEAD']);

/**
 * Authenticates an axios instance (or `@nestjs/axios`'s `HttpService.axiosRef`) to one API:
 * `Authorization` from the token cache on every request to its origin; after a 401
 * `invalid_token` one replacement token (shared by every caller refused the same token) and one
 * re-send; after a 401 `insufficient_claims` (CAE) a token with the challenge's claims and one
 * re-send; a 403 is never retried. A redirect to another origin is followed without the token, and
 * that origin's 401 is returned as is. A request whose body cannot be read twice (a stream, a
 * `form-data` form) is not re-sent: its 401 is returned, and the refused token withdrawn so that
 * the next request gets a new one. After a redirect that turned the request into a GET (a 303),
 * only that GET is re-sent, never the request the API processed. A signal that aborts the wait for
 * a token rejects as axios's cancellation (`axios.isCancel`). A certificate-bound token (`mtls`)
 * goes only through axios's http adapter (HTTP/1.1 or 2) or fetch adapter, presenting its
 * certificate: a request through any other is refused (`proof_required`) before it is attached.
 * Returns a function that removes the interceptors.
 *
 * @example
 * // In a provider of a module importing HttpModule:
 * constructor(http: HttpService, tokens: TokenService) {
 *   useClientCredentials(http.axiosRef, tokens, { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' });
 * }
 * @publicApi
 */
export function useClientCredentials(
  instance: AxiosInstance,
  tokens: TokenService,
  options: AxiosClientCredentialsOptions,
): () => void {
  const policy = new OriginPolicy(options.baseUrl, options.allowInsecureLoopback);
  const target: TokenTarget = {
    scopes: options.scopes,
    credential: options.credential,
    tenantId: options.tenantId,
    agent: options.agent,
    agentUser: options.agentUser,
  };
  // The API's DPoP nonce, shared by every request of this instance to it.
  const nonce: ApiNonce = {};
  const presenting = new CertificateAgents(options.ca);
  const hops: RedirectContext = { tokens, policy, nonce };
  const request = instance.interceptors.request.use(async (config: Config) => {
    const url = new URL(instance.getUri(config));
    if (config.clientCredentials?.away || !policy.mayCarryToken(url)) return config;
    // A path that `..` takes out of `baseURL`'s path (another API on the same origin) gets no
    // token: refused as createAuthenticatedFetch refuses it, before a token is fetched.
    const base = joinedBase(config);
    if (base !== undefined) policy.checkUnder(url, base, (config.method ?? 'get').toUpperCase());
    const state = (config.clientCredentials ??= {});
    const app = (state.app ??= { fetchOptions: config.fetchOptions });
    try {
      state.token ??= await tokens.getAccessToken(
        target.scopes,
        targetOptions(target, { signal: config.signal as AbortSignal | undefined }),
      );
    } catch (e) {
      throw asCancellation(e, config);
    }
    const token = state.token;
    const method = (config.method ?? 'get').toUpperCase();
    state.nonce = nonce.value;
    // A certificate-bound token goes over a connection presenting its certificate: the http
    // adapter's agent (its HTTP/2 options), or the fetch adapter's dispatcher — else not at all.
    const certificate = tokens.boundCertificate(token);
    let fetchOptions = app.fetchOptions;
    if (certificate !== undefined) {
      const dispatcher = presenting.apply(config, certificate, token.credential);
      fetchOptions = { ...fetchOptions, dispatcher };
    }
    // A DPoP-bound token goes with a proof of this request: its method and URL.
    const auth = authorizationOf(tokens, token, method, url, nonce);
    config.headers.set('Authorization', auth.authorization);
    if (auth.dpop !== undefined) config.headers.set('DPoP', auth.dpop);
    // A bound token's redirects under the fetch adapter are followed here, a proof per hop; so
    // are those of a request a redirect may rewrite (a POST that a 303 turns into a GET): each hop
    // is then a request of its own, and a 401 of a later hop re-sends that hop — never the
    // request the API already processed.
    state.follow =
      (certificate !== undefined || token.tokenType === 'DPoP' || !KEPT_BY_REDIRECTS.has(method)) &&
      followsRedirects(config, app.fetchOptions);
    if (state.follow) fetchOptions = { ...fetchOptions, redirect: 'manual' };
    config.fetchOptions = fetchOptions;
    // axios's fetch adapter follows redirects inside fetch: only the response's URL tells whose
    // answer it is. Recorded by a wrapper of the fetch it uses (one per fetch: axios keeps an
    // adapter per `env.fetch`); the http adapter ignores it.
    const fetch = recordingFetch(config.env?.fetch ?? globalThis.fetch);
    if (fetch !== undefined) config.env = { ...config.env, fetch };
    // The http adapter's redirects (follow-redirects): the token's rules on each hop.
    guardHttpRedirects(hops, config, state, token, method);
    return config;
  });
  /** The next hop of a redirect the fetch adapter left to the interceptor, else undefined. */
  const follow = async (config: Config | undefined, res: AxiosResponse | undefined) => {
    const state = config?.clientCredentials;
    if (res === undefined || !state?.follow || !viaFetch(res)) return undefined;
    const from = answeredAt(res) ?? new URL(instance.getUri(config));
    const hop = redirectHop(res, config!, from);
    if (hop === undefined) return undefined;
    // After one hop to another origin the token never comes back (as fetch: `carry &&=`).
    const away = state.away === true || !policy.mayCarryToken(hop.url);
    // The API's answer may rotate its DPoP nonce, a 3xx's too: the next hop signs the newest.
    if (state.token !== undefined && !state.away && policy.mayCarryToken(from)) {
      nonceAnswer(
        state.token,
        res.status,
        (name) => res.headers[name] as string | undefined,
        nonce,
        undefined,
      );
    }
    release(res);
    return instance.request({
      ...config,
      url: hop.url.href,
      allowAbsoluteUrls: true,
      // The Location is the whole URL: neither the call's params nor the instance's are added.
      params: undefined,
      paramsSerializer: { serialize: () => '' },
      method: hop.method,
      data: hop.data,
      headers: hop.headers,
      // Another origin: the app's own fetch options (its dispatcher, not the certificate's).
      fetchOptions: away
        ? { ...state.app?.fetchOptions, redirect: 'manual' }
        : config!.fetchOptions,
      clientCredentials: {
        token: state.token,
        retried: state.retried,
        nonceRetried: state.nonceRetried,
        app: state.app,
        follow: true,
        hops: (state.hops ?? 0) + 1,
        away,
        leftOrigin: away,
      },
    } as unknown as Config);
  };
  /** A re-send after a 401 that a new token (or a DPoP API's new nonce) can answer, else undefined. */
  const retry = async (config: Config | undefined, res: AxiosResponse | undefined) => {
    const state = config?.clientCredentials;
    if (res === undefined || state?.token === undefined) return undefined;
    const at = answeredAt(res);
    const fromApi = !state.leftOrigin && (at === undefined || policy.mayCarryToken(at));
    const header = (name: string) => res.headers[name] as string | undefined;
    // After a redirect that rewrote the request, only its last hop is sent again.
    const resend = resendOf(config!, res, at);
    const body: unknown = resend !== undefined && 'data' in resend ? resend.data : config?.data;
    if (
      fromApi &&
      nonceAnswer(state.token, res.status, header, nonce, state.nonce) &&
      !state.nonceRetried &&
      resend !== undefined &&
      isReplayableBody(body)
    ) {
      // RFC 9449 §9: the same token, a proof with the API's new nonce, once.
      release(res);
      return instance.request({
        ...config,
        ...resend,
        clientCredentials: {
          token: state.token,
          retried: state.retried,
          nonceRetried: true,
          app: state.app,
        },
      } as Config);
    }
    if (res.status !== 401 || state.retried || resend === undefined) return undefined;
    let token;
    try {
      ({ token } = await tokenToResend(
        tokens,
        target,
        state.token,
        {
          challenge: res.headers['www-authenticate'] as string | string[] | undefined,
          fromApi,
          body,
        },
        config?.signal as AbortSignal | undefined,
      ));
    } catch (e) {
      // The 401 is not handed back: nobody else will read it.
      release(res);
      throw asCancellation(e, config);
    }
    if (token === undefined) return undefined;
    release(res);
    return instance.request({
      ...config,
      ...resend,
      clientCredentials: { token, retried: true, app: state.app },
    } as Config);
  };
  const next = async (config: Config | undefined, res: AxiosResponse | undefined) =>
    (await follow(config, res)) ?? (await retry(config, res));
  // A 401 (or a redirect left to the interceptor) arrives as an error by default, as a response
  // when validateStatus accepts it. What goes back to the app shows no token.
  const response = instance.interceptors.response.use(
    async (res: AxiosResponse) => {
      const again = (await next(res.config as Config, res)) ?? res;
      redactConfig(again.config as Config);
      return again;
    },
    async (error: AxiosError) => {
      const again = await next(error.config as Config | undefined, error.response);
      if (again === undefined) {
        redactConfig(error.config as Config | undefined);
        redactConfig(error.response?.config as Config | undefined);
        throw error;
      }
      return again;
    },
  );
  return () => {
    instance.interceptors.request.eject(request);
    instance.interceptors.response.eject(response);
    presenting.destroy();
  };
}

/** axios's test of an absolute URL (`<scheme>://` or `//`), which it does not join to `baseURL`. */
const ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The `baseURL` that axios joins the request's `url` to as text (its `buildFullPath`): set, and
 * the `url` relative (or `allowAbsoluteUrls: false`); else undefined.
 */
function joinedBase(config: Config): URL | undefined {
  const { baseURL, url } = config;
  if (typeof baseURL !== 'string' || baseURL === '' || !URL.canParse(baseURL)) return undefined;
  if (config.allowAbsoluteUrls !== false && typeof url === 'string' && ABSOLUTE.test(url)) {
    return undefined;
  }
  return new URL(baseURL);
}
