import type { RequestLogEntry, TokenRequestFilter } from './types';

/** Where tokens are issued: the token endpoint and every managed identity host. */
const TOKEN_TARGETS: ReadonlySet<string> = new Set(['token', 'managed-identity', 'imds', 'arc']);

/** The request log behind the counters tests assert on. */
export class RequestLog {
  private entries: RequestLogEntry[] = [];

  get all(): ReadonlyArray<RequestLogEntry> {
    return this.entries;
  }

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
  }

  reset(): void {
    this.entries = [];
  }

  /** Token endpoint and managed identity requests matching every given field. */
  countTokenRequests(filter: TokenRequestFilter = {}): number {
    return this.entries.filter(
      (e) =>
        TOKEN_TARGETS.has(e.target) &&
        (filter.target === undefined || e.target === filter.target) &&
        (filter.tenantId === undefined || e.tenantId === filter.tenantId.toLowerCase()) &&
        (filter.clientId === undefined || e.clientId === filter.clientId.toLowerCase()) &&
        (filter.scope === undefined || e.scope === filter.scope) &&
        (filter.outcome === undefined || e.outcome === filter.outcome),
    ).length;
  }
}
