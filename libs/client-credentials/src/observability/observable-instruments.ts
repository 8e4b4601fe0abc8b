import type { Meter, ObservableCallback, ObservableResult } from '@opentelemetry/api';
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

/** An instrument read at collection time (the part of OpenTelemetry's that is used here). */
interface Observed {
  addCallback(callback: ObservableCallback): void;
  removeCallback?(callback: ObservableCallback): void;
}

/**
 * Registers the instruments read at collection time — cache hits and misses, refreshes, seconds
 * left of tokens and certificates, other tenants, the shared cache's counters — over the live
 * counters of a token service: the cache-hit path only bumps a number, and an exporter reads it.
 * @returns what removes the callbacks: the meter is the process's, and a closed service must
 * neither be reported nor kept alive by it.
 */
export function observeAtCollection(
  meter: Meter,
  stats: ReadonlyMap<string, CredentialStats>,
  sharedCaches: ReadonlySet<() => Readonly<SharedCacheStats> | undefined>,
): () => void {
  const registered: [Observed, ObservableCallback][] = [];
  const observe = (instrument: Observed) => ({
    addCallback(callback: ObservableCallback) {
      instrument.addCallback(callback);
      registered.push([instrument, callback]);
    },
  });
  const counters = [
    ['client_credentials.cache.hits', 'Calls served from memory', 'cacheHits'],
    ['client_credentials.cache.misses', 'Calls that missed memory', 'cacheMisses'],
    ['client_credentials.cache.store_hits', 'Misses served by the store', 'storeHits'],
    ['client_credentials.refreshes', 'Background refreshes done', 'refreshes'],
  ] as const;
  for (const [name, description, field] of counters) {
    observe(meter.createObservableCounter(name, { description })).addCallback((result) => {
      for (const [credential, s] of stats) result.observe(s[field], { credential });
    });
  }
  // Seconds left, read at collection time: an alert fires on a token or certificate about to
  // expire without the hit path doing any work.
  const left = (at: Date | undefined) => Math.round(((at?.getTime() ?? 0) - Date.now()) / 1000);
  // Labelled by credential only, never by tenant: a multi-tenant app serves any number of
  // customer tenants, and a series per tenant would grow past what a metrics backend keeps (the
  // OpenTelemetry SDK folds series past 2,000 into one), freeze forgotten tenants at their last
  // value, and list customers' tenant ids on a metrics page. Other tenants are counted instead.
  observe(
    meter.createObservableGauge('client_credentials.token.expires_in_seconds', {
      description: "Seconds until the token obtained last in the credential's own tenant expires",
      unit: 's',
    }),
  ).addCallback((result) => {
    for (const [credential, s] of stats) {
      if (s.lastTokenExpiresOn) result.observe(left(s.lastTokenExpiresOn), { credential });
    }
  });
  observe(
    meter.createObservableGauge('client_credentials.tenants', {
      description:
        'Other tenants a credential got tokens of, or failed to (at most 1,000 kept), by whether their last request failed',
    }),
  ).addCallback((result) => {
    for (const [credential, s] of stats) {
      let failing = 0;
      let ok = 0;
      for (const t of Object.values(s.tenants ?? {})) {
        if (isFailing(t)) failing++;
        else ok++;
      }
      result.observe(ok, { credential, state: 'ok' });
      result.observe(failing, { credential, state: 'failing' });
    }
  });
  observe(
    meter.createObservableGauge('client_credentials.certificate.expires_in_seconds', {
      description: "Seconds until a certificate source's certificate expires (the earliest)",
      unit: 's',
    }),
  ).addCallback((result) => {
    for (const [credential, s] of stats) {
      if (s.certificateNotAfter) result.observe(left(s.certificateNotAfter), { credential });
    }
  });
  const shared = (field: keyof Omit<SharedCacheStats, 'connected'>) => (r: ObservableResult) => {
    for (const read of sharedCaches) {
      const stats = read();
      if (stats) r.observe(stats[field]);
    }
  };
  for (const [name, field, description] of SHARED_CACHE_COUNTERS) {
    observe(
      meter.createObservableCounter(`client_credentials.shared_cache.${name}`, { description }),
    ).addCallback(shared(field));
  }
  // Per replica, what an alert on a fleet looks at first: is this process sharing its tokens?
  observe(
    meter.createObservableGauge('client_credentials.shared_cache.connected', {
      description: 'Whether the shared cache (Redis) can be used now: 1, or 0',
    }),
  ).addCallback((result) => {
    for (const read of sharedCaches) {
      const stats = read();
      if (stats) result.observe(stats.connected ? 1 : 0);
    }
  });
  return () => {
    for (const [instrument, callback] of registered.splice(0))
      instrument.removeCallback?.(callback);
  };
}
