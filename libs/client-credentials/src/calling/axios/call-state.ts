import type { InternalAxiosRequestConfig } from 'axios';
import type { AccessToken } from '../../access-token';

/** What the app's request asked for, before the interceptor changed it: kept across re-sends and hops. */
export interface AppRequest {
  /** The app's `fetchOptions` (its dispatcher, its `redirect`). */
  fetchOptions?: Record<string, unknown>;
}

/** What the interceptors keep on a request's config (a plain key: axios keeps it on a re-send). */
export interface CallState {
  token?: AccessToken;
  retried?: boolean;
  /** The DPoP nonce the last proof was signed with, and whether a new nonce was asked for once. */
  nonce?: string;
  nonceRetried?: boolean;
  /** A redirect took the call to another origin (which never got the token). */
  leftOrigin?: boolean;
  app?: AppRequest;
  /** The fetch adapter was told not to follow redirects: the interceptor follows them, hop by hop. */
  follow?: boolean;
  /** The redirects the interceptor followed to reach this hop. */
  hops?: number;
  /** This hop follows a redirect that left the API's origin: it goes without the token, as the app sends it. */
  away?: boolean;
}

export type Config = InternalAxiosRequestConfig & { clientCredentials?: CallState };

/**
 * Replaces the token in a config handed back to the app (`response.config`, `error.config`) with
 * its scheme and `[redacted]`, and drops its DPoP proof: `AxiosError.toJSON()` and a logger that
 * prints the error whole show `config.headers`. Only a config whose header the interceptor wrote.
 */
export function redactConfig(config: Config | undefined): void {
  const token = config?.clientCredentials?.token;
  const headers = config?.headers;
  if (token === undefined || headers === undefined || typeof headers.get !== 'function') return;
  if (headers.has('Authorization')) headers.set('Authorization', `${token.tokenType} [redacted]`);
  headers.delete('DPoP');
}
