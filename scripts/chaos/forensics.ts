import type { RequestLogEntry } from '../../libs/dev-authority/src';
import type { CredentialSnapshot, LogLine, Run } from './daemon-process';
import type { FaultWindow } from './faults';
import type { RedisOp } from './redis-monitor';

/** Everything recorded during a campaign, on one clock (this machine's). */
export interface Recording {
  started: number;
  runs: Run[];
  lines: LogLine[];
  snapshots: CredentialSnapshot[];
  redisOps: RedisOp[];
  /** Redis client address → daemon index (0: unknown, e.g. this campaign's own monitor). */
  redisClients: Map<string, number>;
  authorityLog: ReadonlyArray<RequestLogEntry>;
  clientIds: Record<string, string>;
  /** When each injected fault started and ended. */
  faults: FaultWindow[];
}

/** A token the authority issued, and from when to when a replica could use it. */
export interface IssuedToken {
  clientId: string;
  issuedAt: number;
  /** The answer's arrival at the replica: issue time plus any latency fault in force. */
  deliveredAt: number;
  usableUntil: number;
}

/** The window of Redis ops and log lines shown before a failed run. */
const BEFORE_MS = 12_000;

/**
 * The story of one failed run: where a valid token was at that moment (which replicas were
 * serving one, what Redis held and who wrote it), what the failing replica's library logged
 * and sent, and the authority's answers to that credential. Text, for a person to read.
 */
export function explainFailure(rec: Recording, run: Run, valid: IssuedToken[]): string {
  const t = (at: number) => `${((at - rec.started) / 1000).toFixed(2)} s`;
  const clientId = rec.clientIds[run.credential];
  const out: string[] = [
    `--- ${t(run.at)}: daemon ${run.daemon} ${run.credential} ${run.skipped ? 'tick skipped: previous run stuck' : `failed: ${run.code}`}`,
    'valid tokens of this credential (issued → delivered → usable until):',
    ...valid.map((v) => `  ${t(v.issuedAt)} → ${t(v.deliveredAt)} → ${t(v.usableUntil)}`),
  ];
  // Which replicas were serving a token of this credential around the failure.
  const near = rec.runs.filter(
    (r) => r.credential === run.credential && r.ok && Math.abs(r.at - run.at) <= 2000,
  );
  out.push('successful runs of this credential within ±2 s:');
  for (const r of near) {
    out.push(
      `  ${t(r.at)} daemon ${r.daemon} token from ${r.source}, expires ${r.expiresOn === undefined ? '?' : t(r.expiresOn)}`,
    );
  }
  const snap = [...rec.snapshots]
    .reverse()
    .find((s) => s.daemon === run.daemon && s.credential === run.credential && s.at <= run.at);
  if (snap !== undefined) {
    out.push(
      `health of daemon ${run.daemon} at ${t(snap.at)}: ${snap.status}, last success ${snap.lastSuccessAt === undefined ? '-' : t(snap.lastSuccessAt)}, token expires ${snap.tokenExpiresOn === undefined ? '-' : t(snap.tokenExpiresOn)}, last error ${snap.lastError === undefined ? '-' : `${snap.lastError.code} at ${t(snap.lastError.at)}`}`,
    );
  }
  out.push(`authority, token requests of this credential from ${t(run.at - BEFORE_MS)}:`);
  for (const e of rec.authorityLog) {
    const at = e.at.getTime();
    if (e.target !== 'token' || e.clientId !== clientId) continue;
    if (at < run.at - BEFORE_MS || at > run.at + 1000) continue;
    out.push(`  ${t(at)} ${e.status} ${e.outcome}${e.fault === undefined ? '' : ` (${e.fault})`}`);
  }
  out.push(`Redis commands from ${t(run.at - BEFORE_MS)} (GET/MGET of tokens left out):`);
  for (const op of rec.redisOps) {
    if (op.at < run.at - BEFORE_MS || op.at > run.at + 200) continue;
    if (op.command === 'GET' || op.command === 'MGET' || op.key === undefined) continue;
    const who = rec.redisClients.get(op.client) ?? 0;
    out.push(
      `  ${t(op.at)} daemon ${who || '?'} ${op.command}${op.nx ? ' NX' : ''} …${op.key.slice(-10)}${op.px === undefined ? '' : ` PX ${op.px}`}`,
    );
  }
  out.push(`log of daemon ${run.daemon} from ${t(run.at - BEFORE_MS)} (this credential, library):`);
  for (const l of rec.lines) {
    if (l.daemon !== run.daemon || l.at < run.at - BEFORE_MS || l.at > run.at + 50) continue;
    if (!l.text.includes(run.credential) && !l.text.includes('ClientCredentials')) continue;
    if (/ -> 200 /.test(l.text)) continue;
    out.push(`  ${t(l.at)} ${l.text.replace(/^\[Nest\] \d+\s+-\s+\S+, \S+ (\S+ )?\s*/, '')}`);
  }
  return out.join('\n');
}
