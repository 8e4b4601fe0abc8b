import type { RequestLogEntry, TokenRequestFilter } from './types';

/** Where tokens are issued: the token endpoint and every managed identity host. */
const TOKEN_TARGETS: ReadonlySet<string> = new Set(['token', 'managed-identity', 'imds', 'arc']);

/**
 * How many requests the log keeps when not told: a few MB of entries, and more than one section of
 * `npm run bench` sends in the window it reads back (5,000 token requests of a refresh storm).
 */
export const DEFAULT_REQUEST_LOG_SIZE = 10_000;

/** Refuses a `requestLogSize` that is not a whole number of entries, naming the option. */
export function checkRequestLogSize(size: number | undefined): void {
  if (size === undefined || (Number.isInteger(size) && size >= 0)) return;
  throw new Error(
    `DevAuthorityOptions.requestLogSize must be a whole number of entries (0 or more; ` +
      `default ${DEFAULT_REQUEST_LOG_SIZE}), got ${String(size)}.`,
  );
}

/** Token requests alike in every field a {@link TokenRequestFilter} can name, and how many. */
interface Tally {
  target: RequestLogEntry['target'];
  tenantId?: string;
  clientId?: string;
  scope?: string;
  outcome: RequestLogEntry['outcome'];
  count: number;
}

/**
 * The request log behind the counters tests assert on: a ring of the most recent entries (the
 * authority runs for days in the daemon's dev mode), and a running count of the token requests
 * since the last reset, per tenant, client, scope, outcome and endpoint, which the ring's size
 * does not limit and a count does not scan the log for.
 */
export class RequestLog {
  private ring: RequestLogEntry[] = [];
  /** Where the next entry goes once the ring is full: the oldest entry's slot. */
  private next = 0;
  private snapshot: ReadonlyArray<RequestLogEntry> | undefined;
  /** Keyed by every field a filter can name; most filters name a client: indexed by it too. */
  private tallies = new Map<string, Tally>();
  private talliesByClient = new Map<string | undefined, Tally[]>();

  constructor(readonly size = DEFAULT_REQUEST_LOG_SIZE) {}

  /** The entries kept, oldest first: a copy, which later requests do not change. */
  get all(): ReadonlyArray<RequestLogEntry> {
    this.snapshot ??= [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return this.snapshot;
  }

  add(entry: RequestLogEntry): void {
    this.tally(entry);
    this.snapshot = undefined;
    if (this.size === 0) return;
    if (this.ring.length < this.size) {
      this.ring.push(entry);
      return;
    }
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.size;
  }

  reset(): void {
    this.ring = [];
    this.next = 0;
    this.snapshot = undefined;
    this.tallies = new Map();
    this.talliesByClient = new Map();
  }

  /** Token endpoint and managed identity requests matching every given field. */
  countTokenRequests(filter: TokenRequestFilter = {}): number {
    const clientId = filter.clientId?.toLowerCase();
    const tenantId = filter.tenantId?.toLowerCase();
    const candidates =
      clientId === undefined ? this.tallies.values() : (this.talliesByClient.get(clientId) ?? []);
    let count = 0;
    for (const t of candidates) {
      if (
        (filter.target === undefined || t.target === filter.target) &&
        (tenantId === undefined || t.tenantId === tenantId) &&
        (clientId === undefined || t.clientId === clientId) &&
        (filter.scope === undefined || t.scope === filter.scope) &&
        (filter.outcome === undefined || t.outcome === filter.outcome)
      )
        count += t.count;
    }
    return count;
  }

  private tally(e: RequestLogEntry): void {
    if (!TOKEN_TARGETS.has(e.target)) return;
    const key = JSON.stringify([e.target, e.tenantId, e.clientId, e.scope, e.outcome]);
    const known = this.tallies.get(key);
    if (known !== undefined) {
      known.count++;
      return;
    }
    const { target, tenantId, clientId, scope, outcome } = e;
    const tally: Tally = { target, tenantId, clientId, scope, outcome, count: 1 };
    this.tallies.set(key, tally);
    const ofClient = this.talliesByClient.get(clientId);
    if (ofClient === undefined) this.talliesByClient.set(clientId, [tally]);
    else ofClient.push(tally);
  }
}
