import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDevAuthority, type DevAuthority } from '../../libs/dev-authority/src';
import { startAll } from '../../test/support/fixtures';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server';
import { DaemonProcess, type CredentialSnapshot, type LogLine, type Run } from './daemon-process';
import type { ChaosContext, ChaosCredential, Fault, FaultWindow } from './faults';
import { measure, type CampaignResult } from './measure';
import { RedisMonitor } from './redis-monitor';

export { FAULTS, SHORT_FAULTS } from './faults';
export { toMarkdown, type CampaignResult, type FaultResult } from './measure';

/** How the campaign runs. */
export interface CampaignOptions {
  daemons: number;
  faults: Fault[];
  /** Token lifetime and `refresh_in` of the authority. */
  lifetimeSeconds: number;
  refreshInSeconds: number;
  /**
   * `refresh` (the default): each fault is injected just before the refresh point of the token
   * the daemons hold (per credential for token endpoint faults), read from the daemons' own log
   * lines — so it meets the background refresh every time. `fixed`: right after the quiet time,
   * whatever the tokens' age (the earlier campaign; a fault may then miss every refresh).
   */
  timing?: 'refresh' | 'fixed';
  /** Quiet time before the first fault and after each. */
  gapMs: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** The library's refresh jitter: ±5 % of the lifetime around `refresh_in` (its default). */
const JITTER = 0.05;
/** How long before the earliest possible refresh a fault is injected. */
const MARGIN_MS = 250;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Starts the local authority, a Redis and `daemons` daemon processes sharing it (workers every
 * second, two credentials in two tenants: a secret and a certificate), injects each fault in
 * turn, and measures from the authority's log, the daemons' logs and health endpoints, and
 * Redis's command stream. Stops everything it started, also on abort.
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'chaos-'));
  const runs: Run[] = [];
  const lines: LogLine[] = [];
  const snapshots: CredentialSnapshot[] = [];
  const pids = new Map<number, number>();
  let authority: DevAuthority | undefined;
  let redis: RedisServer | undefined;
  let monitor: RedisMonitor | undefined;
  let polling: Promise<void> | undefined;
  let stopPolling = false;
  const daemons: DaemonProcess[] = [];
  try {
    // A failed start releases what did start: a listening authority would keep a test run alive.
    [authority, redis] = await startAll([
      startDevAuthority({ stateDir: join(dir, 'authority') }),
      startRedisServer(),
    ]);
    monitor = new RedisMonitor(redis.port);
    await monitor.attach();
    authority.setAccessTokenLifetime(options.lifetimeSeconds, {
      refreshInSeconds: options.refreshInSeconds,
    });
    const secretTenant = authority.createTenant();
    const certTenant = authority.createTenant();
    const secretApp = secretTenant.createApp();
    const certApp = certTenant.createApp();
    const cert = await certApp.addCertificate();
    const certificatePath = join(dir, 'certificate.pem');
    await writeFile(certificatePath, `${cert.certificatePem}\n${cert.privateKeyPem}`);
    const credentials: ChaosCredential[] = [
      { name: 'secret', clientId: secretApp.clientId, tenantId: secretTenant.tenantId },
      { name: 'certificate', clientId: certApp.clientId, tenantId: certTenant.tenantId },
    ];
    const common = { authorityHost: authority.url, caPath: authority.caPath };
    const configFile = join(dir, 'daemon.yaml');
    await writeFile(
      configFile,
      stringify({
        health: { host: '127.0.0.1', port: 0 },
        shutdownTimeoutSeconds: 5,
        api: { url: authority.apiUrl, scope: authority.apiScope, caPath: authority.caPath },
        credentials: {
          secret: {
            ...common,
            tenantId: secretTenant.tenantId,
            clientId: secretApp.clientId,
            sources: [{ type: 'secret', secret: secretApp.addSecret() }],
          },
          certificate: {
            ...common,
            tenantId: certTenant.tenantId,
            clientId: certApp.clientId,
            sources: [{ type: 'certificate', certificatePath }],
          },
        },
        workers: {
          poller: { type: 'poller', intervalSeconds: 1, credential: 'secret' },
          sync: { type: 'sync', intervalSeconds: 1, credential: 'certificate' },
        },
      }),
    );
    const env = {
      TOKEN_CACHE_REDIS_URL: redis.url,
      TOKEN_CACHE_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      // The library's retries, refresh failures and lock waits: what explains a failed run.
      DAEMON_LOG_LEVEL: 'debug',
    };
    for (let i = 0; i < options.daemons; i++) {
      daemons.push(
        new DaemonProcess(i + 1, configFile, env, runs, lines, {
          poller: 'secret',
          sync: 'certificate',
        }),
      );
    }
    const ctx: ChaosContext = {
      authority,
      redis,
      monitor,
      daemons,
      log,
      lifetimeMs: options.lifetimeSeconds * 1000,
    };
    const started = Date.now();
    await Promise.all(daemons.map((d) => d.start()));
    log(`${daemons.length} daemons up in ${Date.now() - started} ms`);
    // What each replica holds, twice a second: read back when a failed run is explained.
    polling = (async () => {
      while (!stopPolling) {
        for (const d of daemons) {
          if (d.pid !== undefined) pids.set(d.pid, d.index);
          snapshots.push(...(await d.credentials()));
        }
        await sleep(500);
      }
    })();
    await sleep(options.gapMs, options.signal);

    const windows: FaultWindow[] = [];
    for (const fault of options.faults) {
      windows.push(...(await inject(fault, ctx, credentials, runs, options)));
      await sleep(options.gapMs, options.signal);
      const until = Date.now();
      for (const w of windows) if (w.until === 0) w.until = until;
    }
    const finished = Date.now();
    await Promise.all(daemons.map((d) => d.stop()));
    stopPolling = true;
    await polling;
    const redisClients = new Map(
      [...monitor.owners].map(([client, pid]) => [client, pids.get(pid) ?? 0]),
    );
    return measure(
      {
        started,
        runs,
        lines,
        snapshots,
        redisOps: monitor.ops,
        redisClients,
        authorityLog: authority.log,
        clientIds: Object.fromEntries(credentials.map((c) => [c.name, c.clientId])),
        faults: windows,
      },
      daemons,
      options,
      finished,
    );
  } finally {
    stopPolling = true;
    await polling?.catch(() => undefined);
    await Promise.all(daemons.map((d) => d.stop(2000)));
    monitor?.detach();
    await Promise.all([authority?.close(), redis?.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Injects one fault, waits `durationMs` and lifts it: per credential (token endpoint faults),
 * each just before that credential's refresh point, or once. Returns the windows (per credential
 * or one) with `until` still 0: the caller sets it after the quiet time.
 */
async function inject(
  fault: Fault,
  ctx: ChaosContext,
  credentials: ChaosCredential[],
  runs: Run[],
  options: CampaignOptions,
): Promise<FaultWindow[]> {
  const timing = options.timing ?? 'refresh';
  const one = async (target: ChaosCredential | undefined): Promise<FaultWindow> => {
    if (timing === 'refresh') await untilRefreshPoint(target ?? credentials, runs, options);
    const start = Date.now();
    ctx.log(`fault: ${fault.name}${target === undefined ? '' : ` (${target.name})`}`);
    const { lift, hit } = await fault.inject(ctx, target);
    const left = fault.durationMs - (Date.now() - start);
    if (fault.endsWhen === undefined) await sleep(left, options.signal);
    else {
      // The event, bounded by the duration; the losing timer is cleared (no handle left behind).
      const bound = new AbortController();
      const signals = options.signal ? [options.signal, bound.signal] : [bound.signal];
      const timeout = sleep(left, AbortSignal.any(signals)).catch(() => undefined);
      await Promise.race([fault.endsWhen(ctx, target, start), timeout]);
      bound.abort();
      options.signal?.throwIfAborted();
    }
    await lift();
    return {
      fault,
      hit,
      credential: target?.name,
      tenantId: target?.tenantId,
      start,
      end: Date.now(),
      until: 0,
    };
  };
  if (timing === 'fixed') return [await one(undefined)];
  if (fault.perCredential) return Promise.all(credentials.map((c) => one(c)));
  return [await one(await firstToRefresh(credentials, runs, options))];
}

/**
 * The newest token of a credential any daemon has used (its expiry, from the run lines), and
 * from it the earliest moment the fleet can refresh it: `refresh_in` after issue, minus the
 * library's jitter. Every replica holding that token refreshes at one moment (the refresh time
 * is stored with the token), so this is the fleet's refresh point.
 */
function earliestRefresh(credential: string, runs: Run[], options: CampaignOptions): number {
  let expires = 0;
  for (let i = runs.length - 1; i >= 0 && i >= runs.length - 200; i--) {
    const r = runs[i];
    if (r.ok && r.credential === credential) expires = Math.max(expires, r.expiresOn ?? 0);
  }
  const { lifetimeSeconds: life, refreshInSeconds: refreshIn } = options;
  return expires - (life - refreshIn) * 1000 - life * 1000 * JITTER;
}

/** Of the credentials, the one whose refresh point comes first. */
async function firstToRefresh(
  credentials: ChaosCredential[],
  runs: Run[],
  options: CampaignOptions,
): Promise<ChaosCredential> {
  for (;;) {
    const next = credentials
      .map((c) => ({ c, at: earliestRefresh(c.name, runs, options) - MARGIN_MS }))
      .filter((x) => x.at > Date.now())
      .sort((a, b) => a.at - b.at)[0];
    if (next !== undefined) return next.c;
    await sleep(100, options.signal);
  }
}

/** Resolves `MARGIN_MS` before the next refresh point of the credential(s). */
async function untilRefreshPoint(
  target: ChaosCredential | ChaosCredential[],
  runs: Run[],
  options: CampaignOptions,
): Promise<void> {
  const names = Array.isArray(target) ? target.map((c) => c.name) : [target.name];
  for (;;) {
    const at = Math.min(
      ...names
        .map((n) => earliestRefresh(n, runs, options) - MARGIN_MS)
        .filter((t) => t > Date.now()),
    );
    // Past this credential's refresh point (the fleet is refreshing now): the next token's.
    if (Number.isFinite(at) && at - Date.now() <= 100) {
      await sleep(Math.max(0, at - Date.now()), options.signal);
      return;
    }
    await sleep(Number.isFinite(at) ? Math.min(100, at - Date.now() - 100) : 100, options.signal);
  }
}
