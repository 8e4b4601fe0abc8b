import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDevAuthority, type DevAuthority } from '../../apps/dev-authority/src/core';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server';
import { DaemonProcess, type Run } from './daemon-process';

/** What a fault step can reach. */
export interface ChaosContext {
  authority: DevAuthority;
  redis: RedisServer;
  daemons: DaemonProcess[];
}

/** A fault: injected by `start`, lifted by `stop` after `durationMs`. */
export interface Fault {
  name: string;
  durationMs: number;
  start(ctx: ChaosContext): Promise<void> | void;
  stop(ctx: ChaosContext): Promise<void> | void;
}

/** A fault of the authority's token endpoint, for `durationMs`. */
function tokenFault(
  name: string,
  durationMs: number,
  spec: Parameters<DevAuthority['faults']['add']>[0],
): Fault {
  let id = '';
  return {
    name,
    durationMs,
    start: ({ authority }) => void (id = authority.faults.add({ target: 'token', ...spec })),
    stop: ({ authority }) => authority.faults.remove(id),
  };
}

/** The faults of the campaign, by name. */
export const FAULTS = {
  burst503: tokenFault('503 burst', 10_000, { kind: 'status', status: 503 }),
  throttle429: tokenFault('429 with Retry-After: 5', 10_000, {
    kind: 'throttle',
    retryAfterSeconds: 5,
  }),
  reset: tokenFault('connection resets', 10_000, { kind: 'reset' }),
  latency: tokenFault('2 s latency', 10_000, { kind: 'latency', latencyMs: 2000 }),
  html502: tokenFault('HTML 502', 10_000, { kind: 'html502' }),
  nonJson: tokenFault('non-JSON body', 10_000, { kind: 'non-json' }),
  outage: tokenFault('token endpoint down 25 s (> lifetime)', 25_000, {
    kind: 'status',
    status: 503,
  }),
  // The authority 4 s behind the daemons and the API (less than the library's expiry skew): a
  // jump of the API's clock past tokens already issued is not a client's to absorb.
  clockShift: tokenFault('authority clock 4 s behind', 10_000, {
    kind: 'clock-shift',
    clockShiftSeconds: -4,
  }),
  redis: {
    name: 'Redis killed, restarted after 8 s',
    durationMs: 8_000,
    start: ({ redis }) => redis.kill(),
    stop: ({ redis }) => redis.restart(),
  } satisfies Fault,
  daemonKill: {
    name: 'daemon 1 SIGKILLed, restarted after 5 s',
    durationMs: 5_000,
    start: ({ daemons }) => daemons[0].kill(),
    stop: ({ daemons }) => daemons[0].start(),
  } satisfies Fault,
};

/** How the campaign runs. */
export interface CampaignOptions {
  daemons: number;
  faults: Fault[];
  /** Token lifetime and `refresh_in` of the authority. */
  lifetimeSeconds: number;
  refreshInSeconds: number;
  /** Quiet time before the first fault and after each. */
  gapMs: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** One fault's figures. */
export interface FaultResult {
  name: string;
  durationMs: number;
  runs: number;
  failedRuns: number;
  failedWhileValid: number;
  api401: number;
  tokenRequests: { ok: number; failed: number };
  /** From the fault's end until every running daemon had a successful run; undefined: not within the gap. */
  recoveryMs?: number;
}

/** What the campaign measured. */
export interface CampaignResult {
  durationMs: number;
  daemons: number;
  lifetimeSeconds: number;
  runs: number;
  failedRuns: number;
  /** Failed worker runs while a token for their credential, fetched by any replica, was valid. */
  failedWhileValid: number;
  apiCalls: number;
  /** API calls refused as unauthorized: an expired (or otherwise bad) token used. */
  api401: number;
  /** Per credential: successful token requests per token lifetime of the campaign. */
  requestsPerLifetime: Record<string, { ok: number; failed: number; perLifetime: number }>;
  faults: FaultResult[];
  /** Failures the daemons logged that were not typed errors, and stderr of crashes. */
  unexpected: string[];
  /** The runs counted in `failedWhileValid`: seconds into the campaign, daemon, credential, code. */
  failedWhileValidRuns: string[];
}

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
 * second, two credentials: a secret and a certificate), injects each fault in turn, and measures
 * from the authority's log and the daemons' logs. Stops everything it started, also on abort.
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'chaos-'));
  const runs: Run[] = [];
  let authority: DevAuthority | undefined;
  let redis: RedisServer | undefined;
  const daemons: DaemonProcess[] = [];
  try {
    [authority, redis] = await Promise.all([
      startDevAuthority({ stateDir: join(dir, 'authority') }),
      startRedisServer(),
    ]);
    authority.setAccessTokenLifetime(options.lifetimeSeconds, {
      refreshInSeconds: options.refreshInSeconds,
    });
    const tenant = authority.createTenant();
    const secretApp = tenant.createApp();
    const certApp = tenant.createApp();
    const cert = await certApp.addCertificate();
    const certificatePath = join(dir, 'certificate.pem');
    await writeFile(certificatePath, `${cert.certificatePem}\n${cert.privateKeyPem}`);
    const clientIds: Record<string, string> = {
      secret: secretApp.clientId,
      certificate: certApp.clientId,
    };
    const common = {
      tenantId: tenant.tenantId,
      authorityHost: authority.url,
      caPath: authority.caPath,
    };
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
            clientId: secretApp.clientId,
            sources: [{ type: 'secret', secret: secretApp.addSecret() }],
          },
          certificate: {
            ...common,
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
    };
    for (let i = 0; i < options.daemons; i++) {
      daemons.push(new DaemonProcess(i + 1, configFile, env, runs));
    }
    const ctx: ChaosContext = { authority, redis, daemons };
    const started = Date.now();
    await Promise.all(daemons.map((d) => d.start()));
    log(`${daemons.length} daemons up in ${Date.now() - started} ms`);
    await sleep(options.gapMs, options.signal);

    const windows: { fault: Fault; start: number; end: number; until: number }[] = [];
    for (const fault of options.faults) {
      const start = Date.now();
      log(`fault: ${fault.name}`);
      await fault.start(ctx);
      await sleep(fault.durationMs, options.signal);
      await fault.stop(ctx);
      const end = Date.now();
      await sleep(options.gapMs, options.signal);
      windows.push({ fault, start, end, until: Date.now() });
    }
    const finished = Date.now();
    await Promise.all(daemons.map((d) => d.stop()));
    return measure(authority, runs, daemons, windows, clientIds, options, started, finished);
  } finally {
    await Promise.all(daemons.map((d) => d.stop(2000)));
    await Promise.all([authority?.close(), redis?.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

function measure(
  authority: DevAuthority,
  runs: Run[],
  daemons: DaemonProcess[],
  windows: { fault: Fault; start: number; end: number; until: number }[],
  clientIds: Record<string, string>,
  options: CampaignOptions,
  started: number,
  finished: number,
): CampaignResult {
  const lifetimeMs = options.lifetimeSeconds * 1000;
  // The library treats a token as expired this much before its end (a quarter of a short lifetime).
  const usableMs = lifetimeMs - Math.min(120_000, lifetimeMs / 4);
  const tokens = authority.log.filter((e) => e.target === 'token');
  const issued = tokens.filter((e) => e.outcome === 'ok');
  const valid = (run: Run) =>
    issued.some(
      (e) =>
        e.clientId === clientIds[run.credential] &&
        e.at.getTime() <= run.at &&
        run.at < e.at.getTime() + usableMs,
    );
  const api = authority.log.filter((e) => e.target === 'api');
  const within = (at: number, from: number, to: number) => at >= from && at < to;
  const faults = windows.map(({ fault, start, end, until }): FaultResult => {
    const inWindow = runs.filter((r) => within(r.at, start, until));
    const failed = inWindow.filter((r) => !r.ok);
    const requests = tokens.filter((e) => within(e.at.getTime(), start, until));
    // Recovered once every daemon has had a successful run of each credential since the end.
    let recoveredAt = end;
    for (const d of daemons) {
      for (const credential of Object.keys(clientIds)) {
        const first = runs.find(
          (r) => r.daemon === d.index && r.credential === credential && r.ok && r.at >= end,
        );
        recoveredAt =
          first === undefined || first.at > until ? Infinity : Math.max(recoveredAt, first.at);
      }
    }
    return {
      name: fault.name,
      durationMs: fault.durationMs,
      runs: inWindow.length,
      failedRuns: failed.length,
      failedWhileValid: failed.filter(valid).length,
      api401: api.filter((e) => e.status === 401 && within(e.at.getTime(), start, until)).length,
      tokenRequests: {
        ok: requests.filter((e) => e.outcome === 'ok').length,
        failed: requests.filter((e) => e.outcome !== 'ok').length,
      },
      recoveryMs: Number.isFinite(recoveredAt) ? recoveredAt - end : undefined,
    };
  });
  const lifetimes = (finished - started) / lifetimeMs;
  const requestsPerLifetime = Object.fromEntries(
    Object.entries(clientIds).map(([name, clientId]) => {
      const mine = tokens.filter((e) => e.clientId === clientId);
      const ok = mine.filter((e) => e.outcome === 'ok').length;
      return [name, { ok, failed: mine.length - ok, perLifetime: ok / lifetimes }];
    }),
  );
  const failed = runs.filter((r) => !r.ok);
  return {
    durationMs: finished - started,
    daemons: daemons.length,
    lifetimeSeconds: options.lifetimeSeconds,
    runs: runs.length,
    failedRuns: failed.length,
    failedWhileValid: failed.filter(valid).length,
    apiCalls: api.length,
    api401: api.filter((e) => e.status === 401).length,
    requestsPerLifetime,
    faults,
    unexpected: daemons.flatMap((d) => d.errors),
    failedWhileValidRuns: failed
      .filter(valid)
      .map(
        (r) =>
          `${((r.at - started) / 1000).toFixed(1)} s: daemon ${r.daemon} ${r.credential} ${r.code}`,
      ),
  };
}

/** The campaign's figures as Markdown tables. */
export function toMarkdown(r: CampaignResult): string {
  const s = (ms: number | undefined) =>
    ms === undefined ? 'not within the gap' : `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `${r.daemons} daemons, shared Redis, token lifetime ${r.lifetimeSeconds} s, ${(r.durationMs / 1000).toFixed(0)} s of workers every second.`,
    '',
    '| fault | for | worker runs | failed | failed while a valid token existed | API 401 (expired token used) | token requests ok / failed | recovery |',
    '|---|---|---|---|---|---|---|---|',
    ...r.faults.map(
      (f) =>
        `| ${f.name} | ${f.durationMs / 1000} s | ${f.runs} | ${f.failedRuns} | ${f.failedWhileValid} | ${f.api401} | ${f.tokenRequests.ok} / ${f.tokenRequests.failed} | ${s(f.recoveryMs)} |`,
    ),
    `| **whole campaign** | ${(r.durationMs / 1000).toFixed(0)} s | ${r.runs} | ${r.failedRuns} | **${r.failedWhileValid}** | **${r.api401}** | | |`,
    '',
    `API calls made: ${r.apiCalls}.`,
    '',
    '| credential (scope api://dev-api/.default) | token requests ok | failed (faults) | ok requests per token lifetime |',
    '|---|---|---|---|',
    ...Object.entries(r.requestsPerLifetime).map(
      ([name, q]) => `| ${name} | ${q.ok} | ${q.failed} | ${q.perLifetime.toFixed(2)} |`,
    ),
  ];
  return lines.join('\n');
}
