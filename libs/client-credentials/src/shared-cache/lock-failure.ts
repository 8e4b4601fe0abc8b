import {
  ClientCredentialsError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from '../errors/client-credentials.errors';
import { ERROR_CATALOG, type ClientCredentialsErrorCode } from '../errors/error-catalog';
import { isHostFailure } from '../errors/host-failure';
import type { TokenCipher } from './token-cipher';

/** What a waiting replica learns of a lock holder's failed token request (sealed in Redis). */
interface FailureRecord {
  // Version 2 added `exp`; a version 1 record (no expiry of its own) is not trusted.
  readonly v: 2;
  /**
   * End of the record's life (epoch ms, the holder's clock). Sealed with the rest, so whoever can
   * write to Redis can replay a record but not prolong it: Redis's own expiry of the key is not
   * enough, a copy can be written back with none.
   */
  readonly exp: number;
  /** Which class to rebuild: a refusal, or an endpoint that could not be used. */
  readonly kind: 'rejected' | 'endpoint';
  readonly code: ClientCredentialsErrorCode;
  /** The holder's message without its hint (the waiter's error adds the hint again). */
  readonly message: string;
  readonly retryAfterMs?: number;
  /**
   * End of the authority's Retry-After (epoch ms, the holder's clock), with `retryAfterMs`: a
   * waiter that reads the record later pauses only for what is left of it, as the holder does.
   * Added within version 2: a record without it is read as before.
   */
  readonly retryUntil?: number;
  readonly status?: number;
  readonly aadsts?: number;
  readonly oauthError?: string;
  readonly correlationId?: string;
  readonly traceId?: string;
  readonly credential?: string;
  readonly tenantId?: string;
}

const MAX_MESSAGE = 1000;

/**
 * Whether a holder's failure is what the authority answered, which every replica would be
 * answered too: an HTTP answer that it cannot serve now (5xx, 429 with its Retry-After, an answer
 * that is no token), or a refusal of the request. Everything else is the holder's own, and frees
 * the lock for a waiter to fetch over its own path:
 * - no answer reached it (`network_error`: its `ca`, proxy, DNS or egress; `timeout`: its
 *   silence, which may be its own network's), nor any failure of its own making (its shutdown,
 *   its certificate file, an assertion callback, its refused-token set: `refused_token_reissued`);
 * - a managed identity endpoint's answer, whatever it is: IMDS, App Service, Arc and Service
 *   Fabric answer per host (IMDS throttles per VM), even when identity and lock are shared;
 * - a refusal of its credential (a wrong or rotated secret, an unregistered certificate): during
 *   a rolling rotation another replica's may be good.
 */
export function isShareable(e: unknown): e is TokenRequestRejectedError | TokenEndpointError {
  if (isHostFailure(e)) return false;
  if (e instanceof TokenEndpointError) return e.status !== undefined;
  return e instanceof TokenRequestRejectedError && e.code !== 'credential_rejected';
}

/**
 * Seals a holder's failure for its waiters, valid for `ttlMs` from `now`: AES-256-GCM like the
 * tokens, bound to the Redis name `aad`. Our error messages never hold a secret, an assertion or
 * a token; the cause (which may hold anything) is left out.
 */
export function sealFailure(
  error: TokenRequestRejectedError | TokenEndpointError,
  cipher: TokenCipher,
  aad: string,
  ttlMs: number,
  now = Date.now(),
): string {
  const suffix = ` Hint: ${error.hint}`;
  const message = error.message.endsWith(suffix)
    ? error.message.slice(0, -suffix.length)
    : error.message;
  const record: FailureRecord = {
    v: 2,
    exp: now + ttlMs,
    kind: error instanceof TokenEndpointError ? 'endpoint' : 'rejected',
    code: error.code,
    message: message.slice(0, MAX_MESSAGE),
    retryAfterMs: error.retryAfterMs,
    retryUntil: error.retryAfterMs === undefined ? undefined : now + error.retryAfterMs,
    status: error.status,
    aadsts: error.aadsts,
    oauthError: error.oauthError,
    correlationId: error.correlationId,
    traceId: error.traceId,
    credential: error.credential,
    tenantId: error.tenantId,
  };
  return cipher.seal(JSON.stringify(record), aad);
}

/**
 * The holder's failure as this replica's typed error; `expired` when it is a record past its
 * time, or one that claims to live longer than `maxTtlMs` from `now` (a holder's clock far ahead:
 * trusting it would let a replayed copy deny the token for as long as the clocks differ);
 * undefined when `sealed` does not open or is not a current failure record (the caller then
 * treats the lock as held, and its expiry in Redis frees it).
 */
export function openFailure(
  sealed: string,
  cipher: TokenCipher,
  aad: string,
  now: number,
  maxTtlMs: number,
): ClientCredentialsError | 'expired' | undefined {
  const opened = cipher.open(sealed, aad);
  if (typeof opened === 'string') return undefined;
  let r: FailureRecord;
  try {
    r = JSON.parse(opened.plain) as FailureRecord;
  } catch {
    return undefined;
  }
  if (r?.v !== 2 || typeof r.exp !== 'number') return undefined;
  if (!(r.exp > now && r.exp - now <= maxTtlMs)) return 'expired';
  if (
    !(r.kind === 'rejected' || r.kind === 'endpoint') ||
    typeof r.code !== 'string' ||
    !Object.hasOwn(ERROR_CATALOG, r.code) ||
    typeof r.message !== 'string'
  ) {
    return undefined;
  }
  const message = `${r.message} (Another replica's request, shared through the token lock: this replica did not ask again.)`;
  const context = {
    retryAfterMs: retryLeft(r, now),
    status: r.status,
    aadsts: r.aadsts,
    oauthError: r.oauthError,
    correlationId: r.correlationId,
    traceId: r.traceId,
    credential: r.credential,
    tenantId: r.tenantId,
  };
  return r.kind === 'endpoint'
    ? new TokenEndpointError(r.code, message, context, true)
    : new TokenRequestRejectedError(r.code, message, context, false);
}

/**
 * What is left at `now` of the holder's Retry-After: never more than the authority asked for (a
 * holder's clock ahead of ours cannot lengthen the pause), none once it has passed; the whole of
 * it for a record that does not say when it ends.
 */
function retryLeft(r: FailureRecord, now: number): number | undefined {
  if (typeof r.retryAfterMs !== 'number' || !(r.retryAfterMs >= 0)) return undefined;
  if (typeof r.retryUntil !== 'number') return r.retryAfterMs;
  return Math.min(r.retryAfterMs, Math.max(0, r.retryUntil - now));
}
