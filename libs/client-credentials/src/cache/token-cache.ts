import { DEFAULTS } from '../options/defaults';
import { now } from '../timing/clock';
import { withDeadline } from '../timing/timers';
import type { LoggerService } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import type { AccessToken } from '../access-token';
import { boundedByClocks, CachedEntry, isStoredToken, type StoredToken } from './cached-entry';
import type { Principal } from '../credentials/principal';
import { scopeKey } from '../options/request-validation';
import type { TokenRequest } from '../credentials/token-request';

export { CachedEntry, type StoredToken } from './cached-entry';

/** The most claims tokens kept in memory (see {@link TokenCache.claimsOrder}). */
export const MAX_CLAIMS_TOKENS = 100;

/**
 * The token cache: an optional cache-manager `Cache` (the source of truth shared by replicas
 * through Redis, or the app's own store) behind a bounded in-process index, so that a cache hit is
 * two `Map.get`s and a clock check — no await on a store, no lock, no msal, no string built —
 * whatever the number of entries. Without a store the index is the cache: no second copy of a
 * token is kept in process memory.
 */
export class TokenCache {
  /**
   * principal (a credential, or a leg of one of its agents) → scope key → the entry, or tenant → entry once a scope has tokens of several
   * tenants: a lookup with the caller's own strings, and no map per scope for the usual one tenant.
   */
  private readonly index = new Map<
    Principal,
    Map<string, CachedEntry | Map<string, CachedEntry>>
  >();
  /** Every indexed entry, oldest first: the eviction order. */
  private readonly order = new Set<CachedEntry>();
  /**
   * The claims tokens among them (answers to claims challenges), oldest first: at most
   * {@link MAX_CLAIMS_TOKENS}, whatever `maxEntries` allows — each is for one challenge's claims,
   * and an API that sends new claims with every challenge must not fill memory with them, nor
   * evict the tokens callers use.
   */
  private readonly claimsOrder = new Set<CachedEntry>();
  /** The store writes of entries {@link keep} made current (gone with their entries). */
  private readonly writes = new WeakMap<CachedEntry, Promise<void>>();
  /** Called with every entry that leaves memory (replaced, evicted, cleared). */
  onForget: (entry: CachedEntry) => void = () => undefined;
  /** Called when a hit finds its entry past its refresh point and not being refreshed. */
  onDue: (entry: CachedEntry) => void = () => undefined;

  /**
   * @param jitter fraction of a token's lifetime over which this process spreads its refresh of
   * a token read from the store (another replica's), after the stored refresh point
   * @param storeTimeoutMs the longest a store read or write is awaited (`timeouts.requestMs`): a
   * store that never answers is a store that failed
   */
  constructor(
    private readonly store: Cache | undefined,
    private readonly maxEntries: number,
    private readonly skewMs: number,
    private readonly jitter: number,
    private readonly logger: LoggerService,
    private readonly storeTimeoutMs: number = DEFAULTS.timeouts.requestMs,
  ) {}

  /** The in-memory entry of a token, valid or not. The hot path. */
  peek(credential: Principal, tenantId: string, scopeKey: string): CachedEntry | undefined {
    const slot = this.index.get(credential)?.get(scopeKey);
    if (slot instanceof CachedEntry) return slot.tenantId === tenantId ? slot : undefined;
    return slot?.get(tenantId);
  }

  /**
   * The answer of a cache hit, when `entry` may be served for `scopes` (of a claims request when
   * `claims`) now; counts the hit and starts a refresh when one is due. The hot path.
   */
  serve(
    entry: CachedEntry | undefined,
    scopes: string | readonly string[],
    claims = false,
  ): AccessToken | undefined {
    if (entry === undefined) return undefined;
    // A scope key joins scopes with spaces, which no valid scope has: asking for as many scopes as
    // the entry holds proves the asked ones have none either — `'a b'` or `['a b', 'c']` are
    // not served from the entry of ['a', 'b'] or ['a', 'b', 'c'] (the miss path refuses them).
    const asked =
      typeof scopes === 'string' ? 1 : scopes.length < 2 ? scopes.length : new Set(scopes).size;
    // A claims token's count is negative: a plain call never gets it, whatever key it names.
    if ((claims ? -asked : asked) !== entry.scopeCount) return undefined;
    const time = now();
    // Written so that a time that is not a number never serves.
    if (!(time < entry.usableUntil)) return undefined;
    entry.hits++;
    entry.credential.stats.cacheHits++;
    if (time >= entry.refreshAt && !entry.refreshing) this.onDue(entry);
    return entry.hit;
  }

  /** The in-memory entry of a request's token, valid or not. */
  entryOf(request: TokenRequest): CachedEntry | undefined {
    return this.peek(request.credential, request.tenantId, request.scopeKey);
  }

  /** Whether `entry` is the one memory serves for its token (not replaced, not evicted). */
  isCurrent(entry: CachedEntry): boolean {
    return this.peek(entry.credential, entry.tenantId, entry.scopeKey) === entry;
  }

  /** Whether tokens are also kept in a store (`cache.store`, the shared cache). */
  get hasStore(): boolean {
    return this.store !== undefined;
  }

  /** Number of entries in process memory. */
  get size(): number {
    return this.order.size;
  }

  /**
   * Reads the first usable token of a request that `accept`s from the store; `adopt` it to serve
   * it. With several stores they are read in order, and a token found in a later one is copied
   * into the earlier ones, for no longer than it is usable.
   */
  async read(
    request: TokenRequest,
    accept: (entry: CachedEntry) => boolean = () => true,
  ): Promise<CachedEntry | undefined> {
    if (this.store === undefined) return undefined;
    const all = request.credential.storeKeys(request.tenantId, request.scopeKey);
    // Sources whose tokens have a key now, by index (a certificate not loaded yet has none).
    const sources = all.flatMap((k, i) => (k === '' ? [] : [i]));
    // Nothing tells the principal's tokens apart from another's yet: the store is not asked.
    if (sources.length === 0) return undefined;
    const keys = sources.map((i) => all[i]);
    const stores = this.store.stores;
    for (let level = 0; level < stores.length; level++) {
      let values: unknown[];
      try {
        values = await this.bounded(stores[level].getMany(keys));
      } catch (e) {
        this.logger.warn?.(
          `Token cache read failed, asking the authority instead: ${(e as Error).message}`,
        );
        continue;
      }
      const time = now();
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (!isStoredToken(value) || !issuedFor(value, request)) continue;
        if (!fitsBinding(value, request.credential, sources[i])) continue;
        const spread = Math.random() * (value.expiresOn - value.obtainedAt) * this.jitter;
        const entry = new CachedEntry(request, boundedByClocks(value), this.skewMs, spread);
        if (time >= entry.usableUntil || !accept(entry)) continue;
        if (level > 0) await this.fill(stores.slice(0, level), keys[i], value, entry);
        return entry;
      }
    }
    return undefined;
  }

  /**
   * Makes a new token current in memory, and writes it to the store under `storeKey` in the
   * background (best effort, bounded: a failing or hanging store never fails nor holds up the
   * caller); {@link stored} tells when that write is over. Without a store, or with an empty
   * `storeKey` (a principal whose tokens have no store key: see `Principal.storeKeys`), the token
   * is kept in memory only.
   */
  keep(request: TokenRequest, storeKey: string, stored: StoredToken): CachedEntry {
    const entry = this.remember(new CachedEntry(request, stored, this.skewMs));
    const ttl = entry.usableUntil - now();
    if (ttl > 0 && this.store !== undefined && storeKey !== '') {
      const write = this.bounded(this.store.set(storeKey, stored, ttl)).then(
        () => undefined,
        (e: unknown) => {
          this.logger.warn?.(
            `Token cache write failed; the token is kept in memory: ${(e as Error).message}`,
          );
        },
      );
      this.writes.set(entry, write);
    }
    return entry;
  }

  /** {@link keep}, resolved once the store write is over. */
  async write(request: TokenRequest, storeKey: string, stored: StoredToken): Promise<CachedEntry> {
    const entry = this.keep(request, storeKey, stored);
    await this.stored(entry);
    return entry;
  }

  /**
   * Resolves (never rejects) once the store write of `entry` {@link keep} began is over: at once
   * for an entry that was not written (kept in memory only, read from the store).
   */
  stored(entry: CachedEntry): Promise<void> {
    return this.writes.get(entry) ?? Promise.resolve();
  }

  /** Copies a token found in a lower level into the levels above it. */
  private async fill(
    levels: Cache['stores'],
    key: string,
    stored: StoredToken,
    entry: CachedEntry,
  ): Promise<void> {
    const ttl = entry.usableUntil - now();
    if (ttl <= 0) return;
    try {
      await this.bounded(Promise.all(levels.map((l) => l.set(key, stored, ttl))));
    } catch {
      // Only a copy: the entry is served from the level it came from.
    }
  }

  /** A store operation, failed once it takes longer than {@link storeTimeoutMs}. */
  private bounded<T>(operation: Promise<T>): Promise<T> {
    const ms = this.storeTimeoutMs;
    return withDeadline(operation, ms, () => new Error(`the store did not answer within ${ms} ms`));
  }

  /** Makes an entry read from the store the one served from memory. */
  adopt(entry: CachedEntry): CachedEntry {
    return this.remember(entry);
  }

  /**
   * Forgets every in-memory token of `principal` (the store keeps its entries): an agent's leg
   * its directory let go, whose tokens no call can reach any more — kept, they would hold memory
   * and be refreshed for nobody until eviction came to them.
   */
  forgetPrincipal(principal: Principal): void {
    const byScope = this.index.get(principal);
    if (byScope === undefined) return;
    for (const slot of [...byScope.values()]) {
      for (const entry of slot instanceof Map ? [...slot.values()] : [slot]) {
        this.order.delete(entry);
        this.forget(entry);
      }
    }
  }

  /** Forgets everything in memory (the store keeps its entries). */
  clear(): void {
    for (const entry of this.order) this.onForget(entry);
    this.order.clear();
    this.claimsOrder.clear();
    this.index.clear();
  }

  private remember(entry: CachedEntry): CachedEntry {
    const { credential, scopeKey, tenantId } = entry;
    let byScope = this.index.get(credential);
    if (byScope === undefined) {
      this.index.set(
        credential,
        (byScope = new Map<string, CachedEntry | Map<string, CachedEntry>>()),
      );
    }
    const slot = byScope.get(scopeKey);
    let previous: CachedEntry | undefined;
    if (slot === undefined) {
      byScope.set(scopeKey, entry);
    } else if (slot instanceof CachedEntry) {
      if (slot.tenantId === tenantId) {
        previous = slot;
        byScope.set(scopeKey, entry);
      } else {
        // A second tenant of this scope: from now on a map by tenant.
        byScope.set(
          scopeKey,
          new Map([
            [slot.tenantId, slot],
            [tenantId, entry],
          ]),
        );
      }
    } else {
      previous = slot.get(tenantId);
      slot.set(tenantId, entry);
    }
    if (previous !== undefined) {
      this.order.delete(previous);
      this.claimsOrder.delete(previous);
      this.onForget(previous);
    }
    this.order.add(entry);
    if (entry.scopeCount < 0) {
      this.claimsOrder.add(entry);
      if (this.claimsOrder.size > MAX_CLAIMS_TOKENS) {
        const oldest = this.claimsOrder.values().next().value as CachedEntry;
        this.order.delete(oldest);
        this.forget(oldest);
      }
    }
    if (this.order.size > this.maxEntries) this.evictOne(entry);
    return entry;
  }

  /**
   * Second-chance (CLOCK) eviction: from the oldest on, an entry hit since eviction last looked
   * is moved to the back and spared once; the first one not hit goes. Hot tokens stay, and the hit
   * path pays nothing beyond the counter it bumps anyway. `keep` (the entry just made current)
   * never goes. An evicted token is read back from the store when asked for again.
   */
  private evictOne(keep: CachedEntry): void {
    // Each spared entry has its mark cleared: after one pass, the next entry but `keep` goes.
    for (let looked = 0; ; looked++) {
      const entry = this.order.values().next().value as CachedEntry;
      this.order.delete(entry);
      if (entry === keep || (entry.hits !== entry.seenHits && looked < this.order.size)) {
        entry.seenHits = entry.hits;
        this.order.add(entry);
        continue;
      }
      this.forget(entry);
      return;
    }
  }

  private forget(entry: CachedEntry): void {
    this.claimsOrder.delete(entry);
    this.onForget(entry);
    const { credential, scopeKey, tenantId } = entry;
    const byScope = this.index.get(credential);
    const slot = byScope?.get(scopeKey);
    if (slot === entry) {
      byScope!.delete(scopeKey);
    } else if (slot instanceof Map && slot.get(tenantId) === entry) {
      slot.delete(tenantId);
      // Back to the entry alone once one tenant is left; empty maps go too: a sweep over many
      // scopes or tenants must not leave one behind each.
      if (slot.size === 1) byScope!.set(scopeKey, slot.values().next().value as CachedEntry);
    } else {
      return;
    }
    if (byScope!.size === 0) this.index.delete(credential);
  }
}

/** Token types that are bound to a key or a certificate: never served as a plain bearer token. */
const BOUND_TYPES: ReadonlySet<string> = new Set(['dpop', 'mtls_pop']);

/**
 * Whether a stored token is bound as `principal`'s tokens are, by source `index`: of its token type
 * (`DPoP`, `mtls_pop`, `Bearer`), and bound to the certificate the source presents now when a
 * certificate binds them, to none otherwise. A value copied or written under a bound key by another
 * configuration (a replica not migrated to `mtls` yet) is a miss, never a bearer token served to a
 * bound credential; nor is a bound token served as a bearer one.
 */
function fitsBinding(value: StoredToken, principal: Principal, index: number): boolean {
  const type = value.tokenType.toLowerCase();
  const binding = principal.binding;
  if (binding === undefined) {
    return value.certificateThumbprint === undefined && !BOUND_TYPES.has(type);
  }
  if (type !== binding.tokenType.toLowerCase()) return false;
  if (!binding.certificate) return value.certificateThumbprint === undefined;
  const thumbprint = principal.boundThumbprint?.(index);
  return thumbprint !== undefined && value.certificateThumbprint === thumbprint;
}

/**
 * Whether a stored token was issued for `request`'s tenant, scopes and principal. A store the app
 * supplies (`cache.store`) keeps plain values: one copied or written under another token's key must
 * be a miss, never another tenant's token, nor another agent's or managed identity's. (The shared
 * cache binds each value to its key by encryption.)
 */
function issuedFor(value: StoredToken, request: TokenRequest): boolean {
  return (
    value.tenantId === request.tenantId &&
    value.subject === request.credential.subject &&
    scopeKey(value.scopes) === scopeKey(request.scopes)
  );
}
