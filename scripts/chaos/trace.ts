import type { Recording } from './forensics';

/**
 * Everything a campaign recorded, as one time-ordered text: daemon lines, health snapshots, Redis
 * commands (no values), authority requests and fault windows. No secrets: the daemons log none,
 * Redis values are left out and the authority's log holds ids, not tokens.
 */
export function writeTrace(rec: Recording): string {
  const t = (at: number) => ((at - rec.started) / 1000).toFixed(3).padStart(8);
  const credentialOf = (clientId?: string) =>
    Object.keys(rec.clientIds).find((n) => rec.clientIds[n] === clientId) ?? clientId ?? '-';
  const events: { at: number; text: string }[] = [
    ...rec.lines.map((l) => ({ at: l.at, text: `d${l.daemon} ${l.text}` })),
    ...rec.snapshots.map((s) => ({
      at: s.at,
      text: `d${s.daemon} health ${s.credential} ${s.status} expires ${s.tokenExpiresOn === undefined ? '-' : t(s.tokenExpiresOn).trim()} error ${s.lastError?.code ?? '-'}`,
    })),
    ...rec.redisOps.map((o) => ({
      at: o.at,
      text: `redis d${rec.redisClients.get(o.client) || '?'} ${o.command}${o.nx ? ' NX' : ''} ${o.key ?? ''}${o.px === undefined ? '' : ` PX ${o.px}`}`,
    })),
    ...rec.authorityLog.map((e) => ({
      at: e.at.getTime(),
      text: `authority ${e.target} ${credentialOf(e.clientId)} ${e.status} ${e.outcome}${e.fault === undefined ? '' : ` ${e.fault}`}`,
    })),
    ...rec.faults.flatMap((w) => [
      { at: w.start, text: `FAULT ${w.fault.name} ${w.credential ?? ''} starts` },
      { at: w.end, text: `FAULT ${w.fault.name} ${w.credential ?? ''} lifted` },
    ]),
  ];
  events.sort((a, b) => a.at - b.at);
  return events.map((e) => `${t(e.at)} ${e.text}`).join('\n') + '\n';
}
