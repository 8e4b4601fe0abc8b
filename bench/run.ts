/**
 * `npm run bench`: this library side by side with raw msal-node and @azure/identity against the
 * local authority over HTTPS, each contender in its own process, in four sections —
 *   1. cache hit against the floor (an awaited Map.get) at 1 to 100,000 entries, and cold callers;
 *   2. memory per cached token at 10,000 and 100,000;
 *   3. a refresh storm: 5,000 tokens due at once while 50 callers keep asking;
 *   4. a cold sweep: one token in each of 1,000 tenants, with a secret and with a certificate;
 *   5. agent identities: 1,000 agents under one blueprint, cold (requests per leg), hits, memory.
 * Prints Markdown (ratios in each table). Requests and TLS connections are counted at the authority.
 *
 *   npm run bench                        # everything (about 5 minutes on 2 quiet cores)
 *   BENCH_ONLY=storm,sweep npm run bench # some sections: hits, storm, sweep, agents
 *   BENCH_SCALE=0.1 npm run bench        # every count ÷ 10, for development
 *   BENCH_CONTENDERS=ours-ca,ours npm run bench # some contenders of the storm and sweep
 */
import { startDevAuthority } from '../libs/dev-authority/src';
import type { ContenderKind } from './clients';
import { agentsSection } from './agents';
import { hitSections } from './hits';
import { stormSection } from './storm';
import { sweepSection } from './sweep';

const ALL_CONTENDERS: readonly ContenderKind[] = ['ours-ca', 'ours', 'msal', 'identity'];
const CONTENDERS = ALL_CONTENDERS.filter(
  (k) =>
    process.env.BENCH_CONTENDERS === undefined ||
    process.env.BENCH_CONTENDERS.split(',').some((c) => c.trim() === k),
);
const SECTIONS = ['hits', 'storm', 'sweep', 'agents'] as const;

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const selected = SECTIONS.filter((s) => only === undefined || only.includes(s));
  const started = Date.now();
  const authority = await startDevAuthority();
  const out: string[] = [
    `# npm run bench — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`,
    '',
    '```',
    [
      ...['BENCH_ONLY', 'BENCH_CONTENDERS', 'BENCH_SCALE', 'BENCH_STORM_WINDOW_MS']
        .filter((v) => process.env[v] !== undefined)
        .map((v) => `${v}=${process.env[v]}`),
      'npm run bench',
    ].join(' '),
    '```',
    '',
  ];
  try {
    if (selected.includes('hits')) out.push(...(await hitSections(authority)), '');
    if (selected.includes('storm')) out.push(...(await stormSection(authority, CONTENDERS)), '');
    if (selected.includes('sweep')) out.push(...(await sweepSection(authority, CONTENDERS)), '');
    if (selected.includes('agents')) out.push(...(await agentsSection(authority)), '');
  } finally {
    await authority.close();
  }
  out.push(`Total run time: ${Math.round((Date.now() - started) / 1000)} s.`);
  console.log(out.join('\n'));
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
