import type { Meter } from '@opentelemetry/api';
import { isFailing, type CredentialStats } from './credential-stats';
import type { SharedCacheStats } from '../shared-cache/shared-cache-stats';

/** The shared cache's counters exported as `client_credentials.shared_cache.<name>`. */
const SHARED_CACHE_COUNTERS = [
  ['commands', 'commands', 'Redis commands sent'],
  ['reads', 'reads', 'Entries read from Redis and opened'],
  ['writes', 'writes', 'Entries written to Redis'],
  ['rejected_entries', 'rejectedEntries', 'Entries that failed to decrypt or authenticate'],
  ['unknown_key_entries', 'unknownKeyEntries', 'Entries sealed under an unknown key id'],
  ['errors', 'errors', 'Redis commands that failed, timed out or were skipped'],
  ['timeouts', 'timeouts', 'Redis commands slower than operationTimeoutMs'],
  ['refused_commands', 'refusedCommands', "Redis commands the user's ACL refused (NOPERM)"],
  ['lock_acquired', 'lockAcquired', 'Token fetches done under the cross-process lock'],
  ['lock_waits', 'lockWaits', "Acquisitions that waited for another replica's token"],
  ['lock_wait_hits', 'lockWaitHits', "Lock waits that ended with the other replica's token"],
  ['lock_wait_timeouts', 'lockWaitTimeouts', 'Lock waits that gave up and fetched'],
  ['lock_wait_failures', 'lockWaitFailures', "Lock waits that ended with the holder's failure"],
  ['lock_extensions', 'lockExtensions', 'Extensions of a lock this replica held'],
  ['refreshes_held', 'refreshesHeld', 'Background refreshes put off while Redis could not be used'],
  ['master_switches', 'masterSwitches', 'Sentinel master switches followed at their announcement'],
] as const satisfies readonly (readonly [string, keyof SharedCacheStats, string])[];

/** What one token service gives the instruments to read: its live counters. */
interface Reported {
  readonly stats: ReadonlyMap<string, CredentialStats>;
  readonly sharedCaches: ReadonlySet<() => Readonly<SharedCacheStats> | undefined>;
}

/** The counters a service reports per credential (what {@link Retired} keeps of a closed one). */
const CREDENTIAL_COUNTERS = [
  ['client_credentials.cache.hits', 'Calls served from memory', 'cacheHits'],
  ['client_credentials.cache.misses', 'Calls that missed memory', 'cacheMisses'],
  ['client_credentials.cache.store_hits', "Callers' misses served by the store", 'storeHits'],
  ['client_credentials.refreshes', 'Background refreshes done (fetched or adopted)', 'refreshes'],
] as const;

type CountField = (typeof CREDENTIAL_COUNTERS)[number][2];
type SharedCounter = (typeof SHARED_CACHE_COUNTERS)[number][1];

/**
 * What closed services counted, kept for the counters of the process: a counter that went down
 * when one of two services closed would read as a reset (Prometheus' `rate` then shows a spike),
 * and the synchronous counters (token requests) keep a closed service's series too. The gauges
 * report live services only.
 */
interface Retired {
  readonly counts: Map<string, Record<CountField, number>>;
  readonly shared: Partial<Record<SharedCounter, number>>;
}

/** The token services of one meter (one per process and provider), live and closed. */
interface Registry {
  readonly live: Set<Reported>;
  readonly retired: Retired;
}

/**
 * The token services of each meter. The instruments are registered once per meter and read every
 * service: observed instruments of two services reporting the same attributes (two apps in one
 * process, an app and a test harness, two credentials named alike) would otherwise overwrite each
 * other — OpenTelemetry keeps the last observation of an attribute set — where the synchronous
 * counters (token requests, durations) add up. So counts are summed across services, and the
 * gauges take the most urgent value (the earliest expiry, "not connected" if any service's shared
 * cache is not).
 */
const registries = new WeakMap<Meter, Registry>();

/**
 * Reports a token service's counters through the instruments read at collection time — cache
 * hits and misses, refreshes, seconds left of tokens and certificates, other tenants, the shared
 * cache's counters: the cache-hit path only bumps a number, and an exporter reads it.
 * @returns what stops reporting it: the meter is the process's, and a closed service must not be
 * kept alive by it (its counts are kept as numbers, its gauges go).
 */
export function observeAtCollection(
  meter: Meter,
  stats: ReadonlyMap<string, CredentialStats>,
  sharedCaches: ReadonlySet<() => Readonly<SharedCacheStats> | undefined>,
): () => void {
  let registry = registries.get(meter);
  if (registry === undefined) {
    registry = { live: new Set(), retired: { counts: new Map(), shared: {} } };
    registries.set(meter, registry);
    registerInstruments(meter, registry);
  }
  const { live, retired } = registry;
  const service: Reported = { stats, sharedCaches };
  live.add(service);
  return () => {
    if (!live.delete(service)) return;
    for (const [credential, s] of stats) {
      const kept = retired.counts.get(credential) ?? {
        cacheHits: 0,
        cacheMisses: 0,
        storeHits: 0,
        refreshes: 0,
      };
      for (const [, , field] of CREDENTIAL_COUNTERS) kept[field] += s[field];
      retired.counts.set(credential, kept);
    }
    for (const shared of sharedStats([service])) {
      for (const [, field] of SHARED_CACHE_COUNTERS)
        retired.shared[field] = (retired.shared[field] ?? 0) + shared[field];
    }
  };
}

/** Values by credential across services: summed, or the least kept. */
function byCredential(
  services: Iterable<Reported>,
  value: (s: CredentialStats) => number | undefined,
  combine: (a: number, b: number) => number,
  start: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const out = new Map(start);
  for (const { stats } of services) {
    for (const [credential, s] of stats) {
      const v = value(s);
      if (v === undefined) continue;
      const seen = out.get(credential);
      out.set(credential, seen === undefined ? v : combine(seen, v));
    }
  }
  return out;
}

const sum = (a: number, b: number) => a + b;

/** The shared caches' stats of every service (one per service that has one). */
function* sharedStats(services: Iterable<Reported>): Iterable<Readonly<SharedCacheStats>> {
  for (const { sharedCaches } of services) {
    for (const read of sharedCaches) {
      const stats = read();
      if (stats) yield stats;
    }
  }
}

function registerInstruments(meter: Meter, { live: services, retired }: Registry): void {
  for (const [name, description, field] of CREDENTIAL_COUNTERS) {
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      const closed = new Map([...retired.counts].map(([c, kept]) => [c, kept[field]]));
      for (const [credential, v] of byCredential(services, (s) => s[field], sum, closed))
        result.observe(v, { credential });
    });
  }
  // Seconds left, read at collection time: an alert fires on a token or certificate about to
  // expire without the hit path doing any work.
  const left = (at: Date | undefined) =>
    at === undefined ? undefined : Math.round((at.getTime() - Date.now()) / 1000);
  // Labelled by credential only, never by tenant: a multi-tenant app serves any number of
  // customer tenants, and a series per tenant would grow past what a metrics backend keeps (the
  // OpenTelemetry SDK folds series past 2,000 into one), freeze forgotten tenants at their last
  // value, and list customers' tenant ids on a metrics page. Other tenants are counted instead.
  const expiries = [
    [
      'client_credentials.token.expires_in_seconds',
      "Seconds until the token obtained last in the credential's own tenant expires",
      'lastTokenExpiresOn',
    ],
    [
      'client_credentials.certificate.expires_in_seconds',
      "Seconds until a certificate source's certificate expires (the earliest)",
      'certificateNotAfter',
    ],
  ] as const;
  for (const [name, description, field] of expiries) {
    meter.createObservableGauge(name, { description, unit: 's' }).addCallback((result) => {
      for (const [credential, v] of byCredential(services, (s) => left(s[field]), Math.min))
        result.observe(v, { credential });
    });
  }
  meter
    .createObservableGauge('client_credentials.tenants', {
      description:
        'Other tenants a credential got tokens of, or failed to (at most 1,000 kept), by whether their last request failed',
    })
    .addCallback((result) => {
      const count = (failing: boolean) =>
        byCredential(
          services,
          (s) => Object.values(s.tenants ?? {}).filter((t) => isFailing(t) === failing).length,
          sum,
        );
      for (const [credential, v] of count(false)) result.observe(v, { credential, state: 'ok' });
      for (const [credential, v] of count(true))
        result.observe(v, { credential, state: 'failing' });
    });
  for (const [name, field, description] of SHARED_CACHE_COUNTERS) {
    meter
      .createObservableCounter(`client_credentials.shared_cache.${name}`, { description })
      .addCallback((result) => {
        let total = retired.shared[field];
        for (const stats of sharedStats(services)) total = (total ?? 0) + stats[field];
        if (total !== undefined) result.observe(total);
      });
  }
  // Per replica, what an alert on a fleet looks at first: is this process sharing its tokens?
  meter
    .createObservableGauge('client_credentials.shared_cache.connected', {
      description:
        'Whether the shared cache (Redis) can be used now: 1, or 0 (0 if any token service of the process cannot)',
    })
    .addCallback((result) => {
      let connected: number | undefined;
      for (const stats of sharedStats(services))
        connected = Math.min(connected ?? 1, stats.connected ? 1 : 0);
      if (connected !== undefined) result.observe(connected);
    });
}
