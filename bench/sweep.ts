/**
 * The cold-sweep section of `npm run bench`: a multi-tenant app gets one token in each of
 * `SWEEP_TENANTS` tenants, nothing cached, 50 at a time — with a client secret and with a
 * certificate (a signed client assertion per request). Wall time and CPU time in the contender,
 * requests and TLS connections at the authority.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevAuthority } from '../libs/dev-authority/src';
import { CONTENDER_LABELS, type BenchSecret, type ContenderKind } from './clients';
import type { SweepInput, SweepKind, SweepResult } from './sweep-contender';
import { fmt, multiTenantApp, runContender, scaled, table, withRatio } from './support';

const SWEEP_TENANTS = scaled(1000, 20);
const CONCURRENCY = 50;
/**
 * Runs of this library (with `ca`, without) and of the floor, taken in turn: on a shared machine
 * one run of each moves by ±15%; the ratios between them are the medians of each round's ratios,
 * and the table shows each one's median run.
 */
const ROUNDS = Number(process.env.BENCH_SWEEP_ROUNDS ?? 3);
/** The contenders run {@link ROUNDS} times, in turn. */
const PAIRED: readonly SweepKind[] = ['ours-ca', 'ours', 'wire'];

const LABELS: Record<SweepKind, string> = {
  ...CONTENDER_LABELS,
  wire: 'the requests alone (undici POST, no library)',
};

interface Row {
  kind: SweepKind;
  /** Which run of this kind (rounds of {@link PAIRED} kinds), from 0. */
  round: number;
  credential: BenchSecret['type'];
  result: SweepResult;
  /** CPU time of the bench's own process during the sweep: the authority's work, ms. */
  authorityCpuMs?: number;
  tokenRequests: number;
  otherRequests: number;
  tls: number;
}

/** Runs the sweep per credential type and contender; returns the section's Markdown lines. */
export async function sweepSection(
  authority: DevAuthority,
  kinds: readonly ContenderKind[],
): Promise<string[]> {
  const { home, app, tenants } = multiTenantApp(authority, SWEEP_TENANTS);
  const secret = app.addSecret();
  const cert = await app.addCertificate();
  const inSweep = new Set(tenants);
  const credentials: BenchSecret[] = [
    { type: 'secret', secret },
    {
      type: 'certificate',
      certificatePem: cert.certificatePem,
      privateKeyPem: cert.privateKeyPem,
      thumbprintSha256: cert.thumbprintSha256,
    },
  ];
  const rows: Row[] = [];
  for (const credential of credentials) {
    // This library and the floor (the same requests with no token library at all) in rounds, in
    // turn; the other contenders once.
    const runs: { kind: SweepKind; round: number }[] = [];
    const paired = PAIRED.filter((k) => k === 'wire' || kinds.includes(k));
    for (let round = 0; round < ROUNDS; round++)
      for (const kind of paired) runs.push({ kind, round });
    for (const kind of kinds) if (!paired.includes(kind)) runs.push({ kind, round: 0 });
    for (const { kind, round } of runs) {
      process.stderr.write(`bench: sweep, ${credential.type}, ${kind}…\n`);
      const tlsBefore = authority.tlsConnections;
      const input: SweepInput = {
        kind,
        authorityUrl: authority.url,
        caPem: authority.caPem,
        tenantId: home.tenantId,
        clientId: app.clientId,
        credential,
        tenants,
        scope: authority.apiScope,
        concurrency: CONCURRENCY,
      };
      // The authority runs in this process: its CPU time between the contender's phases is what
      // serving the sweep cost (on 2 cores it competes with the contender).
      let cpuAtStart: NodeJS.CpuUsage | undefined;
      let authorityCpuMs: number | undefined;
      const result = await runContender<SweepResult>(
        join(__dirname, 'sweep-contender.ts'),
        input,
        authority.caPath,
        {
          onPhase: (m) => {
            if (m.phase === 'sweep') cpuAtStart = process.cpuUsage();
            else if (m.phase === 'swept' && cpuAtStart) {
              const used = process.cpuUsage(cpuAtStart);
              authorityCpuMs = (used.user + used.system) / 1000;
            }
          },
        },
      );
      // With BENCH_CPU_PROF, where each sweep ran on the profiles' clock: a profile of the
      // contender or of this process (the authority) can then be cut to the sweep alone.
      if (process.env.BENCH_CPU_PROF) {
        appendFileSync(
          join(process.env.BENCH_CPU_PROF, 'sweep-windows.jsonl'),
          `${JSON.stringify({ kind, credential: credential.type, monotonicUs: result.monotonicUs, cpuMs: result.cpuMs, wallMs: result.wallMs })}\n`,
        );
      }
      if (result.firstError)
        process.stderr.write(`bench: ${kind}: ${result.failed} failed (${result.firstError})\n`);
      const served = authority.log.filter(
        (e) =>
          e.at.getTime() >= result.start &&
          e.at.getTime() <= result.end &&
          (e.tenantId === undefined || inSweep.has(e.tenantId)),
      );
      const tokenRequests = served.filter((e) => e.target === 'token').length;
      rows.push({
        kind,
        round,
        credential: credential.type,
        result,
        authorityCpuMs,
        tokenRequests,
        otherRequests: served.length - tokenRequests,
        tls: authority.tlsConnections - tlsBefore,
      });
    }
  }
  return render(rows);
}

function render(rows: Row[]): string[] {
  const lines = [
    `## Cold sweep: one token in each of ${SWEEP_TENANTS.toLocaleString('en-US')} tenants, ${CONCURRENCY} at a time`,
    '',
    'A multi-tenant app, nothing cached: one token per tenant. Wall and CPU time (`process.cpuUsage()`) ' +
      'of the sweep in the contender (client construction excluded), CPU time of the authority ' +
      '(the bench process) meanwhile; requests and TLS connections at the authority. Ratios are ' +
      'to raw msal-node (one application per tenant, no discovery). On 2 cores the contender and ' +
      'the authority share the CPU. The loop delay max shows whether signing client assertions ' +
      'stalls the event loop. The last row is the floor of any client: the same token requests ' +
      'over one pool of 16 connections with no library (its answers parsed, nothing checked or cached). ' +
      `This library (with and without \`ca\`) and the floor run ${ROUNDS} times, in turn; their rows are ` +
      'each one’s median run.',
    '',
  ];
  for (const credential of ['secret', 'certificate'] as const) {
    const all = rows.filter((r) => r.credential === credential);
    // Each kind's median run (by wall time).
    const these = [...new Set(all.map((r) => r.kind))].map((kind) => {
      const runs = all
        .filter((r) => r.kind === kind)
        .sort((a, b) => a.result.wallMs - b.result.wallMs);
      return runs[Math.floor(runs.length / 2)];
    });
    /** The median over rounds of `a`'s figure ÷ `b`'s in the same round, and the range. */
    const paired = (a: SweepKind, b: SweepKind, v: (r: Row) => number) => {
      const ratios: number[] = [];
      for (const x of all.filter((r) => r.kind === a)) {
        const y = all.find((r) => r.kind === b && r.round === x.round);
        if (y) ratios.push(v(x) / v(y));
      }
      ratios.sort((p, q) => p - q);
      return ratios.length === 0
        ? undefined
        : `${ratios[Math.floor(ratios.length / 2)].toFixed(2)}× (${ratios[0].toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`;
    };
    const ref = these.find((r) => r.kind === 'msal');
    lines.push(
      `### ${credential === 'secret' ? 'Client secret' : 'Certificate (client assertion)'}`,
      '',
      ...table(
        [
          'contender',
          'wall, ms',
          'CPU, ms',
          'authority CPU, ms',
          'loop delay p99 / max, ms',
          'token requests (other requests)',
          'TLS connections',
          'failed',
        ],
        these.map((r) => [
          LABELS[r.kind],
          withRatio(r.result.wallMs, ref?.result.wallMs, r === ref),
          withRatio(r.result.cpuMs, ref?.result.cpuMs, r === ref),
          fmt(r.authorityCpuMs),
          `${fmt(r.result.loop.p99)} / ${fmt(r.result.loop.max)}`,
          `${r.tokenRequests} (${r.otherRequests})`,
          String(r.tls),
          String(r.result.failed),
        ]),
      ),
      '',
    );
    const wall = (r: Row) => r.result.wallMs;
    const cpu = (r: Row) => r.result.cpuMs;
    const rounds = all.filter((r) => r.kind === 'wire').length;
    const sentences = [
      paired('ours-ca', 'ours', wall) &&
        `This library with \`ca\` / without: ${paired('ours-ca', 'ours', wall)} wall time.`,
      paired('ours', 'wire', wall) &&
        `Without \`ca\` / the requests alone: ${paired('ours', 'wire', wall)} wall time, ${paired('ours', 'wire', cpu)} CPU.`,
      paired('ours-ca', 'wire', wall) &&
        `With \`ca\` / the requests alone: ${paired('ours-ca', 'wire', wall)} wall time, ${paired('ours-ca', 'wire', cpu)} CPU.`,
    ].filter(Boolean);
    if (sentences.length > 0) {
      lines.push(
        `Medians (and ranges) of ${rounds} rounds' ratios, the runs of a round taken one after the other: ${sentences.join(' ')}`,
        '',
      );
    }
  }
  lines.push(
    'Targets: with `ca` within 1.1× of without; both ≤ 0.6× raw msal-node’s wall time (issue 16); ' +
      'within 1.3× of the requests alone, wall and CPU (issue 27).',
  );
  return lines;
}
