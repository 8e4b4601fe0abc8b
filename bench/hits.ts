/**
 * The cache-hit and memory sections of `npm run bench`: µs per hit against the floor (an awaited
 * Map.get with an expiry check) by number of cached tokens, the token requests of 1,000 concurrent
 * cold callers, and heap bytes per cached token for this library and msal-node.
 */
import { join } from 'node:path';
import type { DevAuthority } from '../libs/dev-authority/src';
import { CONTENDER_LABELS } from './clients';
import { benchScope, type ContenderInput, type ContenderResult } from './contender';
import type { MsalMemoryInput, MsalMemoryResult } from './memory-contender';
import { fmt, runContender, scaled, table, withRatio } from './support';

const LARGE = [scaled(10_000, 100), scaled(100_000, 1000)];
const MID = scaled(1000, 10);
/** Only this library's cache is filled that far (msal-node's linear lookup could not be). */
const HUGE = scaled(1_000_000, 10_000);
const SIZES: Record<ContenderInput['kind'], number[]> = {
  ours: [1, MID, ...LARGE, HUGE],
  // Filled with real tokens through their linear cache lookup: 10,000 would take minutes.
  msal: [1, MID],
  identity: [1, MID],
};
const COLD_CALLERS = scaled(1000, 10);

/** Runs the hit contenders and msal's memory contender; returns both sections' Markdown lines. */
export async function hitSections(authority: DevAuthority): Promise<string[]> {
  // Only scopes fetched for real need registering (ours fetches the first; the rest come from its store).
  for (let i = 0; i < Math.max(...SIZES.msal); i++)
    authority.createResource({ appIdUri: benchScope(i).replace('/.default', '') });
  const tenant = authority.createTenant();
  const results: ContenderResult[] = [];
  const coldRequests: Record<string, number> = {};
  for (const kind of ['ours', 'msal', 'identity'] as const) {
    const app = tenant.createApp();
    const input: ContenderInput = {
      kind,
      authorityUrl: authority.url,
      caPem: authority.caPem,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      credential: { type: 'secret', secret: app.addSecret() },
      sizes: SIZES[kind],
      coldScope: authority.apiScope,
      coldCallers: COLD_CALLERS,
    };
    process.stderr.write(`bench: cache hits, ${kind}…\n`);
    results.push(
      await runContender<ContenderResult>(
        join(__dirname, 'contender.ts'),
        input,
        authority.caPath,
        { exposeGc: kind === 'ours', maxHeapMb: kind === 'ours' ? 6144 : undefined },
      ),
    );
    coldRequests[kind] = authority.countTokenRequests({
      clientId: app.clientId,
      scope: authority.apiScope,
    });
  }
  process.stderr.write('bench: memory, msal…\n');
  const app = tenant.createApp();
  const memoryInput: MsalMemoryInput = {
    kind: 'msal',
    authorityUrl: authority.url,
    tenantId: tenant.tenantId,
    clientId: app.clientId,
    secret: app.addSecret(),
    sizes: LARGE,
    scopePrefix: 'api://bench-',
  };
  const msalMemory = await runContender<MsalMemoryResult, MsalMemoryInput>(
    join(__dirname, 'memory-contender.ts'),
    memoryInput,
    authority.caPath,
    { exposeGc: true },
  );
  return [...renderHits(results, coldRequests), '', ...renderMemory(results, msalMemory)];
}

function renderHits(results: ContenderResult[], coldRequests: Record<string, number>): string[] {
  const ours = results.find((r) => r.kind === 'ours')!;
  const sizes = [...new Set(Object.values(SIZES).flat())].sort((a, b) => a - b);
  const label = (n: number) => `${n.toLocaleString('en-US')} ${n === 1 ? 'entry' : 'entries'}`;
  const cell = (r: ContenderResult, s: number) =>
    r.hitMicros[s] === undefined
      ? '—'
      : `${fmt(r.hitMicros[s])} (${r.ratio[s].toFixed(r.ratio[s] < 10 ? 2 : 0)}×)`;
  return [
    '## Cache hit against the floor',
    '',
    'µs per call, cycling through every cached token; in parentheses, the ratio to the floor — an ' +
      'awaited `Map.get` with an expiry check over a map of the same size, timed in the same ' +
      'process in turn with the hits (6 pairs of runs of ≥ 250 ms each, the first a warm-up; the ' +
      "median of the pairs' ratios). The floor row is the one timed next to this library. This " +
      'library beyond its first token: real-shaped entries read once from a pre-filled ' +
      '`cache.store` (see bench/contender.ts); msal-node and @azure/identity: real tokens (their ' +
      'linear cache lookup makes larger fills take minutes). Last column: token requests sent for ' +
      `${COLD_CALLERS.toLocaleString('en-US')} concurrent calls of one token not yet cached.`,
    '',
    ...table(
      ['contender', ...sizes.map(label), 'token requests, cold'],
      [
        [
          CONTENDER_LABELS.floor,
          ...sizes.map((s) => withRatio(ours.floorMicros[s], undefined)),
          '—',
        ],
        ...results.map((r) => [
          r.kind === 'ours'
            ? 'this library'
            : CONTENDER_LABELS[r.kind as keyof typeof CONTENDER_LABELS],
          ...sizes.map((s) => cell(r, s)),
          `${coldRequests[r.kind]}${r.coldErrors ? ` (${r.coldErrors} failed)` : ''}`,
        ]),
      ],
    ),
    '',
    `This library, ${label(LARGE[1])} vs 1 entry: ${(ours.hitMicros[LARGE[1]] / ours.hitMicros[1]).toFixed(2)}×.`,
    'Targets: a hit ≤ 3× the floor at every size (issue 16); ≤ 1.5× up to 1,000,000 entries (issue 27).',
  ];
}

function renderMemory(results: ContenderResult[], msal: MsalMemoryResult): string[] {
  const ours = results.find((r) => r.kind === 'ours')!;
  const kb = (b: number | undefined) => (b === undefined ? '—' : `${(b / 1024).toFixed(2)} KB`);
  return [
    '## Memory per cached token',
    '',
    'Heap used after `global.gc()` (contenders run with `--expose-gc`), minus the heap with one ' +
      'token cached, divided by the tokens added. This library: entries read once from a pre-filled ' +
      '`cache.store`, which is then emptied (only the in-process index is measured, its refresh schedule ' +
      'included). msal-node: its cache restored with `getTokenCache().deserialize()` from entries ' +
      'shaped like its first real token. Tokens are distinct, each as long as a real one.',
    '',
    ...table(
      [
        'contender',
        'token length, chars',
        ...[...LARGE, HUGE].map((n) => `${n.toLocaleString('en-US')} tokens`),
      ],
      [
        [
          'this library',
          String(ours.tokenLength),
          ...[...LARGE, HUGE].map((n) => kb(ours.bytesPerToken?.[n])),
        ],
        [
          CONTENDER_LABELS.msal,
          String(msal.tokenLength),
          ...LARGE.map(
            (n) =>
              `${kb(msal.bytesPerToken[n])}${ours.bytesPerToken?.[n] ? ` (${fmt(msal.bytesPerToken[n] / ours.bytesPerToken[n])}×)` : ''}`,
          ),
          '—',
        ],
      ],
    ),
    '',
    'Targets: ≤ 2.5 KB per token at 100,000 (issue 16); ≤ 1.4 KB (issue 27).',
  ];
}
