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

const LABELS: Record<SweepKind, string> = {
  ...CONTENDER_LABELS,
  wire: 'the requests alone (undici POST, no library)',
};

interface Row {
  kind: SweepKind;
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
    // Last, the floor: the same requests with no token library at all.
    for (const kind of [...kinds, 'wire'] as const) {
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
      'over one pool of 16 connections with no library (its answers parsed, nothing checked or cached).',
    '',
  ];
  for (const credential of ['secret', 'certificate'] as const) {
    const these = rows.filter((r) => r.credential === credential);
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
    const withCa = these.find((r) => r.kind === 'ours-ca');
    const without = these.find((r) => r.kind === 'ours');
    const wire = these.find((r) => r.kind === 'wire');
    if (withCa && without) {
      lines.push(
        `This library with \`ca\` / without: ${(withCa.result.wallMs / without.result.wallMs).toFixed(2)}× wall time.` +
          (wire
            ? ` Without \`ca\` / the requests alone: ${(without.result.wallMs / wire.result.wallMs).toFixed(2)}× wall time, ${(without.result.cpuMs / wire.result.cpuMs).toFixed(2)}× CPU.`
            : ''),
        '',
      );
    }
  }
  lines.push(
    'Targets (issue 16): with `ca` within 1.1× of without; both ≤ 0.6× raw msal-node’s wall time.',
  );
  return lines;
}
