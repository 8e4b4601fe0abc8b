/**
 * `npm run bench`: cache-hit cost and cold-start token requests, side by side, in one run —
 * this library, raw msal-node `acquireTokenByClientCredential`, @azure/identity `getToken`, and the
 * floor (an awaited Map.get with an expiry check) — against the local authority over HTTPS.
 * Each contender runs in its own process; request counts come from the authority's counters.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startDevAuthority } from '../apps/dev-authority/src/core';
import type { ContenderInput, ContenderResult } from './contender';

const SIZES = {
  ours: [1, 1000, 10_000],
  floor: [1, 1000, 10_000],
  msal: [1, 1000],
  identity: [1, 1000],
};
const COLD_CALLERS = 1000;

function runContender(input: ContenderInput, caPath: string): Promise<ContenderResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'contender.ts'), JSON.stringify(input)],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath, NODE_NO_WARNINGS: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${input.name} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ContenderResult);
    });
  });
}

const fmt = (n: number | undefined) =>
  n === undefined ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(0);

async function main(): Promise<void> {
  const authority = await startDevAuthority();
  try {
    const largest = Math.max(...Object.values(SIZES).flat());
    const scopes = Array.from({ length: largest }, (_, i) => `api://bench-${i}/.default`);
    for (const s of scopes) authority.createResource({ appIdUri: s.replace('/.default', '') });
    const tenant = authority.createTenant();
    const results: ContenderResult[] = [];
    const coldRequests: Record<string, number> = {};
    for (const name of ['floor', 'ours', 'msal', 'identity'] as const) {
      const app = tenant.createApp();
      const input: ContenderInput = {
        name,
        authorityUrl: authority.url,
        tenantId: tenant.tenantId,
        clientId: app.clientId,
        secret: app.addSecret(),
        scopeCount: largest,
        sizes: SIZES[name],
        coldScope: authority.apiScope,
        coldCallers: name === 'floor' ? 0 : COLD_CALLERS,
      };
      process.stderr.write(`bench: ${name}…\n`);
      results.push(await runContender(input, authority.caPath));
      coldRequests[name] = authority.countTokenRequests({
        clientId: app.clientId,
        scope: authority.apiScope,
      });
    }

    const floor = results.find((r) => r.name === 'floor')!;
    const ours = results.find((r) => r.name === 'ours')!;
    const lines = [
      `Cache hit, µs per call (ratio to the floor: an awaited Map.get with an expiry check); Node ${process.version}`,
      '',
      '| contender | 1 entry | 1,000 entries | 10,000 entries | token requests for 1,000 concurrent cold calls |',
      '| --- | --- | --- | --- | --- |',
      ...results.map((r) => {
        const cell = (size: number) => {
          const v = r.hitMicros[size];
          if (v === undefined) return '—';
          return r.name === 'floor'
            ? fmt(v)
            : `${fmt(v)} (${(v / floor.hitMicros[size]).toFixed(1)}×)`;
        };
        const label = {
          floor: 'floor (Map.get)',
          ours: 'this library',
          msal: 'msal-node',
          identity: '@azure/identity',
        }[r.name];
        const cold =
          r.name === 'floor'
            ? '—'
            : `${coldRequests[r.name]}${r.coldErrors ? ` (${r.coldErrors} failed)` : ''}`;
        return `| ${label} | ${cell(1)} | ${cell(1000)} | ${cell(10_000)} | ${cold} |`;
      }),
      '',
      `this library, 10,000 entries vs 1 entry: ${(ours.hitMicros[10_000] / ours.hitMicros[1]).toFixed(2)}×`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await authority.close();
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
