import { now, observeWallClock } from '../timing/clock';
import { AccessToken } from '../access-token';
import { isBearerText, MAX_LIFETIME_MS } from '../authority/token-response';
import type { Principal } from '../credentials/principal';
import { expiryOfToken } from '../credentials/token-tenant';
import type { TokenRequest } from '../credentials/token-request';
import type { Scheduled } from './refresh-schedule';

/** A token as written to the cache-manager store: plain JSON, shared by every replica. */
export interface StoredToken {
  readonly v: 1;
  readonly token: string;
  readonly tokenType: string;
  /** Epoch milliseconds. */
  readonly obtainedAt: number;
  readonly expiresOn: number;
  readonly refreshOn: number;
  readonly scopes: readonly string[];
  readonly tenantId: string;
  /** Id of the credential source that obtained it (`certificate#0`). */
  readonly source: string;
  /** The `x5t#S256` of the certificate it is bound to (mTLS); none for other tokens. */
  readonly certificateThumbprint?: string;
  /**
   * Whom the token is for when not the credential itself — an agent's leg (Entra Agent ID), or the
   * managed identity a host learned it is — as `Principal.subject` names it. A store read checks
   * it: a value copied under another agent's or identity's key is a miss.
   */
  readonly subject?: string;
}

/**
 * A token held in process memory: the index the cache-hit path reads. It never outlives the
 * token (`usableUntil` is the expiry minus the skew), and is refreshed from `refreshAt` on.
 *
 * Lean on purpose, a cache may hold 100,000 (bench/memory-contender.ts counts the bytes): the
 * token's strings and times live once, in `hit`; the stored form is not kept (the store has it),
 * nor the request object (`request` rebuilds one off the hit path); times are numbers, not
 * `Date`s, and but for `usableUntil` they are held as whole-millisecond distances to another time:
 * V8 keeps a small integer inside the object, where a time (~1.7e12) is a boxed double of 16 bytes
 * more per field and entry.
 */
export class CachedEntry implements Scheduled {
  // Declared in the order the cache-hit path reads them: one or two cache lines of the object.
  /** The request's tenant, read by the hit path without a step through `request`. */
  readonly tenantId: string;
  /**
   * Distinct scopes of the request: a hit must ask for as many (see `TokenService`). Negative for
   * a claims request's token, which a plain hit never matches whatever string it looks up with.
   */
  readonly scopeCount: number;
  /** Until when the token is served (ms on the library's clock, as every time here: {@link now}). */
  readonly usableUntil: number;
  /** `usableUntil − refreshAt`, whole ms (≥ 0): see the class comment. */
  private readonly refreshLead: number;
  /**
   * Counted by every cache hit: a background refresh is only worth it for a token in use, and
   * eviction keeps entries hit since it last looked (`seenHits`).
   */
  hits = 0;
  /** A background refresh of this entry is running or has given up. */
  refreshing = false;
  /** Whom the token is for: a credential, or a leg of one of its agents. */
  readonly credential: Principal;
  /** The answer of a cache hit, built once. */
  readonly hit: AccessToken;
  /** The index key of the request's scopes (see {@link TokenRequest.scopeKey}). */
  readonly scopeKey: string;
  /** The claims of a claims request's token; undefined for others. */
  readonly claims: string | undefined;
  /** `expiresOn − obtainedAt` (the stored wall-clock times): see the class comment. */
  private readonly lifetime: number;
  /** `hits` when eviction last passed over this entry. */
  seenHits = 0;
  /** Position in the refresh schedule; -1 when not scheduled. */
  slot = -1;

  /**
   * @param stored the token with its wall-clock times (epoch ms: the store's form), converted here
   * to the library's clock, which a wall clock set back or forth does not move
   * @param refreshDelayMs this process's own delay after the stored refresh point: replicas that
   * adopted one shared token must not all start refreshing it at the same instant.
   */
  constructor(
    request: TokenRequest,
    stored: Omit<StoredToken, 'v' | 'source' | 'tenantId'>,
    skewMs: number,
    refreshDelayMs = 0,
  ) {
    observeWallClock();
    const shift = now() - Date.now();
    const lifetime = stored.expiresOn - stored.obtainedAt;
    this.usableUntil = stored.expiresOn + shift - Math.min(skewMs, lifetime / 4);
    // The delay takes at most half of what is left after the stored point: a point near the end
    // (a managed identity token's, due when its endpoint mints) is still refreshed before it.
    const refreshOn = stored.refreshOn + shift;
    const delay = Math.min(refreshDelayMs, Math.max(0, (this.usableUntil - refreshOn) / 2));
    // Never after the token stops being served; at most a lifetime before (a stored point before
    // the token's birth means "due now" either way, and keeps the distance a small integer).
    this.refreshLead = Math.round(
      Math.min(Math.max(0, this.usableUntil - (refreshOn + delay)), MAX_LIFETIME_MS),
    );
    this.lifetime = lifetime;
    this.credential = request.credential;
    this.tenantId = request.tenantId;
    this.scopeKey = request.scopeKey;
    this.claims = request.claims;
    this.scopeCount = request.claims === undefined ? request.scopes.length : -request.scopes.length;
    this.hit = new AccessToken(
      stored.token,
      // One shared string, not one per token read from a store.
      stored.tokenType === 'Bearer' ? 'Bearer' : stored.tokenType,
      stored.expiresOn,
      stored.refreshOn,
      request.scopes,
      request.credential.name,
      'cache',
      stored.certificateThumbprint,
    );
  }

  /** When the background refresh should start (never after the token stops being served). */
  get refreshAt(): number {
    return this.usableUntil - this.refreshLead;
  }

  /**
   * When the token was obtained, by the wall clock (epoch ms, as stored: the order of tokens
   * across replicas): a replacement of a refused token must be newer.
   */
  get obtainedAt(): number {
    return this.hit.expiresOnTimestamp - this.lifetime;
  }

  /** The request this entry answers, built when asked (off the hit path). */
  get request(): TokenRequest {
    const { credential, tenantId, scopeKey, claims } = this;
    const scopes = this.hit.scopes;
    return claims === undefined
      ? { credential, tenantId, scopes, scopeKey }
      : { credential, tenantId, scopes, scopeKey, claims };
  }

  /** The token itself. */
  get token(): string {
    return this.hit.token;
  }

  /** When the token expires, epoch ms (as the authority said). */
  get expiresOn(): number {
    return this.hit.expiresOnTimestamp;
  }

  /**
   * An entry of the same token that stops being served now (an API refused it): in memory in
   * its place, so that the next caller misses.
   */
  withdrawn(): CachedEntry {
    const wallNow = Date.now();
    const h = this.hit;
    return new CachedEntry(
      this.request,
      {
        token: h.token,
        tokenType: h.tokenType,
        obtainedAt: this.obtainedAt,
        expiresOn: wallNow,
        refreshOn: wallNow,
        scopes: h.scopes,
        certificateThumbprint: h.certificateThumbprint,
      },
      0,
    );
  }
}

/**
 * A token read from a store, its times brought into this host's wall-clock frame (the frame
 * {@link CachedEntry} converts from), conservatively. They are its writer's wall clock — another
 * replica's, maybe set ahead: taken as they are, the token would be served past its real end, and
 * refreshed as late. A JWT is bounded by its issuer's `exp`; any token by "not obtained later than
 * now". (An opaque token read long after its write shows no such sign: its writer's lead then goes
 * unseen.)
 *
 * Once this host's wall clock was set back, it and the library's clock disagree (the library's
 * does not follow a step back), and a stored time is ambiguous: written by a replica whose clock
 * is right, it is on the library's clock; written by this host since the step, or by a replica
 * stepped with it, it is on this wall clock. Nothing tells which, so both readings are made and
 * the earlier end of use and refresh point is taken — an `exp` is bounded on the library's clock
 * too. Read the wrong way round, a replica's token would be served past its real expiry by as much
 * as the step; the other way, the cost is tokens that look shorter by the step (the step was a fast
 * clock set right): refreshed early, fetched again rather than adopted — requests, never an expired
 * token served.
 */
export function boundedByClocks<T extends Omit<StoredToken, 'v' | 'source' | 'tenantId'>>(
  stored: T,
): T {
  observeWallClock();
  const wallNow = Date.now();
  // How far the library's clock is ahead of this wall clock: a step back not followed. Within the
  // tolerance the two agree (their drift), and one reading is made.
  const apart = now() - wallNow;
  const shift = Math.abs(apart) > CLOCK_TOLERANCE_MS ? apart : 0;
  const exp = expiryOfToken(stored.token);
  const pastExp = exp === undefined ? 0 : stored.expiresOn - exp;
  const late = (at: number) => {
    const by = Math.max(0, stored.obtainedAt - at, pastExp);
    return by > CLOCK_TOLERANCE_MS ? by : 0;
  };
  // Written on this wall clock: late by as much as it says "later than now".
  // Written on the library's clock: as much, and the shift back to this wall clock's frame.
  const back = Math.max(late(wallNow), shift + late(wallNow + shift));
  if (back <= CLOCK_TOLERANCE_MS) return stored;
  return {
    ...stored,
    obtainedAt: stored.obtainedAt - back,
    expiresOn: stored.expiresOn - back,
    refreshOn: stored.refreshOn - back,
  };
}

/**
 * A store's times within this of what the clocks say are taken as they are: `exp` counts whole
 * seconds and hosts' clocks drift by that much, which the skew absorbs. Corrected, they would make
 * replicas see one token at different times — and the order of tokens across replicas (a
 * replacement must be newer than the token it replaces) compares those times.
 */
const CLOCK_TOLERANCE_MS = 5000;

/** The largest time a `Date` holds (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8.64e15;

/** Whether a value read from a store is a token this library wrote (anything else is a miss). */
export function isStoredToken(v: unknown): v is StoredToken {
  const s = v as StoredToken | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.v === 1 &&
    isBearerText(s.token) &&
    typeof s.tokenType === 'string' &&
    // Numbers, not strings that compare as numbers: an entry of a store the app supplies is plain
    // JSON, and one that gives values back as strings (a hash-backed store) would make
    // `expiresOn + shift` a concatenation — a token served for centuries, never refreshed.
    isTime(s.obtainedAt) &&
    isTime(s.expiresOn) &&
    isTime(s.refreshOn) &&
    // Times a Date can hold (±8.64e15 ms), and a lifetime a token endpoint may give: an expiry of
    // 1e16 would make an Invalid Date wherever the token's times are shown (health, logs).
    s.obtainedAt >= 0 &&
    s.expiresOn > s.obtainedAt &&
    s.expiresOn <= MAX_DATE_MS &&
    s.expiresOn - s.obtainedAt <= MAX_LIFETIME_MS &&
    Array.isArray(s.scopes) &&
    s.scopes.every((scope) => typeof scope === 'string') &&
    typeof s.tenantId === 'string' &&
    typeof s.source === 'string' &&
    (s.certificateThumbprint === undefined || typeof s.certificateThumbprint === 'string') &&
    (s.subject === undefined || typeof s.subject === 'string')
  );
}

/** A time of a stored token: a finite number (epoch ms). */
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
