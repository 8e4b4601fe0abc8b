import { now } from '../timing/clock';
import type { CachedEntry } from '../cache/cached-entry';

/** A token an API refused (401): never served again for its request key. */
interface RefusedToken {
  readonly token: string;
  /** When the refused token was obtained, if known: its replacement must be newer. */
  readonly obtainedAt?: number;
  /** After this, the refused token has expired and cannot come back from any store. */
  readonly until: number;
  /** When it was refused (the library's clock: hold-offs are lengths of time). */
  readonly at: number;
  /** When it was refused by the wall clock, to compare with tokens' `obtainedAt` (epoch ms). */
  readonly atWall: number;
  /** Refusals in a row of tokens obtained after the one before (replacements refused too). */
  readonly streak: number;
  /** The token that replaced it here, fetched or adopted (see {@link RefusedTokens.replacedBy}). */
  replacement?: string;
  /**
   * It was refused within the hold-off because it named a revocation after the token: at most one
   * such refusal per hold-off (an API naming "now" in every challenge is no new event each time).
   */
  readonly byRevocation: boolean;
}

/** How long a replacement refused at once is kept (no new token), doubling per refusal in a row. */
const HOLD_OFF_MS = 10_000;
const MAX_HOLD_OFF_MS = 10 * 60_000;

/** The hold-off after `streak` refusals in a row (also the testing kit double's). */
export const holdOff = (streak: number) =>
  Math.min(HOLD_OFF_MS * 2 ** (streak - 1), MAX_HOLD_OFF_MS);

/**
 * Tokens that APIs refused (revoked, say), by request key: no store read — memory, Redis, another
 * replica's write — may answer with one of them again, nor with a token older than it. Bounded to
 * `maxEntries` keys, oldest first; a record goes once its token has expired anyway.
 *
 * A token obtained to replace a refused one and refused too is not replaced again at once: an API
 * that refuses every token (a wrong audience, say) would otherwise cost a token request per call.
 * It is kept for a hold-off that doubles per refusal in a row (10 s to 10 min); callers get the
 * API's 401 meanwhile.
 */
export class RefusedTokens {
  private readonly byKey = new Map<string, RefusedToken>();

  constructor(private readonly maxEntries: number) {}

  /**
   * Whether `token` may be refused now (forgotten and replaced); false while it is the
   * replacement of a refusal less than a hold-off ago — unless the refusal names a revocation
   * after the token was obtained (`revokedBefore`, wall-clock ms: a CAE claims challenge's `nbf`),
   * which a new token satisfies; once per hold-off. `known` is its entry when memory holds it.
   */
  mayRefuse(key: string, token: string, known?: CachedEntry, revokedBefore?: number): boolean {
    const last = this.byKey.get(key);
    if (last === undefined || known?.token !== token) return true;
    if (!isReplacement(known, last)) return true;
    const held = now() < last.at + holdOff(last.streak);
    return !held || (!last.byRevocation && revokes(known, revokedBefore));
  }

  /**
   * Records `token` as refused for `key`; `known` is its entry when memory holds it,
   * `revokedBefore` the revocation the refusal named (see {@link mayRefuse}).
   */
  add(key: string, token: string, known?: CachedEntry, revokedBefore?: number): void {
    const time = now();
    const last = this.byKey.get(key);
    // Refused already (concurrent callers of one refusal): keep what the first record knew. The
    // entry memory holds for it now is the withdrawn one, whose expiry is now: a record made from
    // it would be dropped at once, and a store could serve the refused token again.
    if (last?.token === token) return;
    const again =
      last !== undefined &&
      known !== undefined &&
      isReplacement(known, last) &&
      time < last.at + 2 * holdOff(last.streak);
    const held =
      last !== undefined &&
      known !== undefined &&
      isReplacement(known, last) &&
      time < last.at + holdOff(last.streak);
    this.byKey.delete(key);
    this.byKey.set(key, {
      token,
      obtainedAt: known?.obtainedAt,
      // Unknown expiry: long enough for any access token (Entra's longest CAE tokens live 28 h).
      until: known?.usableUntil ?? time + 28 * 3600_000,
      at: time,
      atWall: Date.now(),
      streak: again ? last.streak + 1 : 1,
      byRevocation: held && revokes(known, revokedBefore),
    });
    for (const [k, r] of this.byKey) {
      if (this.byKey.size <= this.maxEntries && r.until > time) break;
      this.byKey.delete(k);
    }
  }

  /** Records `token` as what replaced the token refused for `key`, whoever fetched it. */
  replacedBy(key: string, token: string): void {
    const record = this.byKey.get(key);
    if (record !== undefined && record.token !== token) record.replacement = token;
  }

  /** The token refused for `key` (while its record lasts), to name to a source that caches tokens. */
  tokenOf(key: string): string | undefined {
    return this.byKey.get(key)?.token;
  }

  /** `accept`, narrowed to entries that are neither a refused token of `key` nor older than it. */
  filter(
    key: string,
    accept?: (entry: CachedEntry) => boolean,
  ): ((entry: CachedEntry) => boolean) | undefined {
    const refused = this.byKey.get(key);
    if (refused === undefined) return accept;
    return (e) =>
      e.token !== refused.token &&
      (refused.obtainedAt === undefined || e.obtainedAt > refused.obtainedAt) &&
      (accept === undefined || accept(e));
  }
}

/**
 * Whether `entry` replaced `refused`: obtained after the refusal, or the token that replaced it
 * here — whoever fetched it: a replacement another replica fetched before this one's refusal, and
 * this one adopted from the shared cache, is a replacement here too (else each replica would ask
 * for one more).
 */
function isReplacement(entry: CachedEntry, refused: RefusedToken): boolean {
  return entry.obtainedAt >= refused.atWall || entry.token === refused.replacement;
}

/** JWT times are whole seconds: a revocation "before the next second" is no time to come. */
const JWT_SECOND_MS = 1000;

/**
 * Whether a refusal naming `revokedBefore` (wall-clock ms) is a revocation after a token obtained
 * at `obtainedAt` (wall-clock ms), which a new token satisfies: after it, and past already (a time
 * to come is no event a new token could answer: an API naming one would make every token "too
 * old"). The test double applies the same rule (testing/double-refusals.ts).
 */
export function revokedSince(
  obtainedAt: number | undefined,
  revokedBefore: number | undefined,
): boolean {
  return (
    obtainedAt !== undefined &&
    revokedBefore !== undefined &&
    obtainedAt < revokedBefore &&
    revokedBefore <= Date.now() + JWT_SECOND_MS
  );
}

function revokes(entry: CachedEntry | undefined, revokedBefore: number | undefined): boolean {
  return revokedSince(entry?.obtainedAt, revokedBefore);
}
