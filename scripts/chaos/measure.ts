import type { DaemonProcess, Run } from './daemon-process';
import type { Fault, FaultWindow } from './faults';
import { explainFailure, type IssuedToken, type Recording } from './forensics';

/** One fault's figures. */
export interface FaultResult {
  name: string;
  durationMs: number;
  /** How long it was in place, on average (event-driven faults end on their event). */
  meanMs: number;
  /** Injections (one per credential for token endpoint faults). */
  injections: number;
  /** Injections during which the credential's refresh reached the authority (decisive ones). */
  refreshesHit: number;
  runs: number;
  failedRuns: number;
  /** Ticks skipped because the worker's previous run was stuck. */
  skippedTicks: number;
  /** Failed runs and skipped ticks while a token of their credential was usable somewhere. */
  failedWhileValid: number;
  /** API calls refused (401): an expired or otherwise bad token used. */
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
  refreshInSeconds: number;
  timing: 'refresh' | 'fixed';
  runs: number;
  failedRuns: number;
  skippedTicks: number;
  /** Failed worker runs (and skipped ticks) while a token for their credential, held by any replica, was usable. */
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
  /** For each of them, where the valid token was and what the failing replica did (text). */
  explanations: string[];
  /** Everything recorded, for a closer look. */
  recording: Recording;
}

/** The library's expiry skew for a token of this lifetime: 120 s, at most a quarter of it. */
const skewMs = (lifetimeMs: number) => Math.min(120_000, lifetimeMs / 4);

/**
 * The tokens the authority issued, each usable from its arrival at a replica (issue time plus any
 * latency fault in force) until the expiry the replicas saw (run lines) minus the library's skew,
 * computed as the library does, from that expiry and the request (here: its arrival at the
 * authority, which the replica's own start precedes by milliseconds).
 * A token no run used gets the authority's expiry less 1 s (msal counts whole seconds).
 */
export function issuedTokens(rec: Recording, lifetimeMs: number): IssuedToken[] {
  const skew = skewMs(lifetimeMs);
  // The expiries each credential's runs saw: a token is matched with its own credential's only
  // (the other credential's tokens expire a second or two apart and would lend it their expiry).
  const expiriesOf = new Map<string | undefined, number[]>();
  for (const r of rec.runs) {
    if (r.expiresOn === undefined) continue;
    const clientId = rec.clientIds[r.credential];
    const list = expiriesOf.get(clientId) ?? [];
    if (!list.includes(r.expiresOn)) list.push(r.expiresOn);
    expiriesOf.set(clientId, list);
  }
  return rec.authorityLog
    .filter((e) => e.target === 'token' && e.outcome === 'ok' && e.clientId !== undefined)
    .map((e) => {
      const issuedAt = e.at.getTime();
      const latency = rec.faults
        .filter(
          (w) =>
            w.fault.latencyMs !== undefined &&
            w.start <= issuedAt &&
            issuedAt < w.end &&
            (w.tenantId === undefined || w.tenantId.toLowerCase() === e.tenantId),
        )
        .reduce((sum, w) => sum + w.fault.latencyMs!, 0);
      // The closest in range: two tokens of one credential issued a second apart have two.
      const due = issuedAt + lifetimeMs;
      const seen = (expiriesOf.get(e.clientId) ?? [])
        .filter((x) => x >= due - 1500 && x <= due + 2500 + latency)
        .sort((x, y) => Math.abs(x - due) - Math.abs(y - due))[0];
      return {
        clientId: e.clientId!,
        issuedAt,
        deliveredAt: issuedAt + latency,
        // The library's own rule: the skew is a quarter of the lifetime *it* sees (msal's expiry
        // less the request's start), not of the nominal lifetime — a few tens of ms apart.
        usableUntil:
          seen === undefined ? issuedAt + lifetimeMs - 1000 - skew : seen - skewMs(seen - issuedAt),
      };
    });
}

/** The campaign's figures from what it recorded. */
export function measure(
  rec: Recording,
  daemons: DaemonProcess[],
  options: { lifetimeSeconds: number; refreshInSeconds: number; timing?: 'refresh' | 'fixed' },
  finished: number,
): CampaignResult {
  const lifetimeMs = options.lifetimeSeconds * 1000;
  const tokens = issuedTokens(rec, lifetimeMs);
  const validAt = (run: Run) =>
    tokens.filter(
      (t) =>
        t.clientId === rec.clientIds[run.credential] &&
        t.deliveredAt <= run.at &&
        run.at < t.usableUntil,
    );
  const requests = rec.authorityLog.filter((e) => e.target === 'token');
  const api = rec.authorityLog.filter((e) => e.target === 'api');
  const within = (at: number, from: number, to: number) => at >= from && at < to;
  const windows = rec.faults;
  const faults = [...new Set<Fault>(windows.map((w) => w.fault))].map((fault): FaultResult => {
    const mine = windows.filter((w) => w.fault === fault);
    // A credential's runs count in its own window; a fault of every credential counts them all.
    const of = (w: FaultWindow, credential: string) =>
      !fault.perCredential || w.credential === undefined || w.credential === credential;
    const inWindow = (credential: string, at: number) =>
      mine.some((w) => of(w, credential) && within(at, w.start, w.until));
    const ticks = rec.runs.filter((r) => inWindow(r.credential, r.at));
    const runs = ticks.filter((r) => !r.skipped);
    const failed = ticks.filter((r) => !r.ok);
    const credentialOf = (clientId?: string) =>
      Object.keys(rec.clientIds).find((n) => rec.clientIds[n] === clientId) ?? '?';
    const reqs = requests.filter((e) => inWindow(credentialOf(e.clientId), e.at.getTime()));
    const refreshesHit = mine.filter(
      (w) =>
        w.hit ??
        requests.some(
          (e) =>
            (w.credential === undefined || credentialOf(e.clientId) === w.credential) &&
            within(e.at.getTime(), w.start, w.end),
        ),
    ).length;
    // Recovered once every daemon has had a successful run of each credential since the end.
    let recoveredAt = 0;
    for (const w of mine) {
      for (const d of daemons) {
        for (const credential of Object.keys(rec.clientIds)) {
          if (!of(w, credential)) continue;
          const first = rec.runs.find(
            (r) => r.daemon === d.index && r.credential === credential && r.ok && r.at >= w.end,
          );
          recoveredAt =
            first === undefined || first.at > w.until ? Infinity : Math.max(recoveredAt, first.at);
        }
      }
    }
    const end = Math.max(...mine.map((w) => w.end));
    return {
      name: fault.name,
      durationMs: fault.durationMs,
      meanMs: mine.reduce((sum, w) => sum + w.end - w.start, 0) / mine.length,
      injections: mine.length,
      refreshesHit,
      runs: runs.length,
      failedRuns: failed.length - ticks.filter((r) => r.skipped).length,
      skippedTicks: ticks.filter((r) => r.skipped).length,
      failedWhileValid: failed.filter((r) => validAt(r).length > 0).length,
      api401: api.filter(
        (e) => e.status === 401 && inWindow(credentialOf(e.clientId), e.at.getTime()),
      ).length,
      tokenRequests: {
        ok: reqs.filter((e) => e.outcome === 'ok').length,
        failed: reqs.filter((e) => e.outcome !== 'ok').length,
      },
      recoveryMs: Number.isFinite(recoveredAt) ? Math.max(0, recoveredAt - end) : undefined,
    };
  });
  const lifetimes = (finished - rec.started) / lifetimeMs;
  const requestsPerLifetime = Object.fromEntries(
    Object.entries(rec.clientIds).map(([name, clientId]) => {
      const mine = requests.filter((e) => e.clientId === clientId);
      const ok = mine.filter((e) => e.outcome === 'ok').length;
      return [name, { ok, failed: mine.length - ok, perLifetime: ok / lifetimes }];
    }),
  );
  const failed = rec.runs.filter((r) => !r.ok);
  const whileValid = failed.filter((r) => validAt(r).length > 0);
  return {
    durationMs: finished - rec.started,
    daemons: daemons.length,
    lifetimeSeconds: options.lifetimeSeconds,
    refreshInSeconds: options.refreshInSeconds,
    timing: options.timing ?? 'refresh',
    runs: rec.runs.filter((r) => !r.skipped).length,
    failedRuns: failed.filter((r) => !r.skipped).length,
    skippedTicks: failed.filter((r) => r.skipped).length,
    failedWhileValid: whileValid.length,
    apiCalls: api.length,
    api401: api.filter((e) => e.status === 401).length,
    requestsPerLifetime,
    faults,
    unexpected: daemons.flatMap((d) => d.errors),
    failedWhileValidRuns: whileValid.map(
      (r) =>
        `${((r.at - rec.started) / 1000).toFixed(1)} s: daemon ${r.daemon} ${r.credential} ${r.skipped ? 'tick skipped (previous run stuck)' : r.code}`,
    ),
    explanations: whileValid.map((r) => explainFailure(rec, r, validAt(r))),
    recording: rec,
  };
}

/** The campaign's figures as Markdown tables. */
export function toMarkdown(r: CampaignResult): string {
  const s = (ms: number | undefined) =>
    ms === undefined ? 'not within the gap' : `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `${r.daemons} daemons, shared Redis, token lifetime ${r.lifetimeSeconds} s (refresh_in ${r.refreshInSeconds} s), ${(r.durationMs / 1000).toFixed(0)} s of workers every second; faults injected ${r.timing === 'refresh' ? 'just before the refresh point of the tokens the daemons held' : 'at fixed times'}.`,
    '',
    '| fault | for | injections met by a refresh | worker runs | failed | ticks skipped (run stuck) | failed or skipped while a valid token existed | expired tokens used (API 401) | token requests ok / failed | recovery |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.faults.map(
      (f) =>
        `| ${f.name} | ${(f.meanMs / 1000).toFixed(1)} s | ${f.refreshesHit} / ${f.injections} | ${f.runs} | ${f.failedRuns} | ${f.skippedTicks} | ${f.failedWhileValid} | ${f.api401} | ${f.tokenRequests.ok} / ${f.tokenRequests.failed} | ${s(f.recoveryMs)} |`,
    ),
    `| **whole campaign** | ${(r.durationMs / 1000).toFixed(0)} s | | ${r.runs} | ${r.failedRuns} | ${r.skippedTicks} | **${r.failedWhileValid}** | **${r.api401}** | | |`,
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
