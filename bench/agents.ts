/**
 * The agent identities section of `npm run bench` (Microsoft Entra Agent ID): N agents under one
 * blueprint, cold — the token requests of each leg at the authority (target: exactly N token
 * exchange requests and N agent requests) — then the cost of a cache hit by agent against the
 * floor, and the heap per agent token pair.
 */
import { join } from 'node:path';
import type { DevAuthority } from '../libs/dev-authority/src';
import type { AgentsInput, AgentsResult } from './agents-contender';
import { fmt, multiTenantApp, runContender, scaled, table } from './support';

const AGENTS = scaled(1000, 10);
const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

/** Runs the contender; returns the section's Markdown lines. */
export async function agentsSection(authority: DevAuthority): Promise<string[]> {
  const tenant = authority.createTenant();
  const blueprint = tenant.createAgentBlueprint();
  const agents = Array.from({ length: AGENTS }, () => blueprint.createAgentIdentity().clientId);
  const input: AgentsInput = {
    kind: 'ours-ca',
    authorityUrl: authority.url,
    caPem: authority.caPem,
    tenantId: tenant.tenantId,
    blueprintId: blueprint.clientId,
    secret: blueprint.addSecret(),
    scope: authority.apiScope,
    agents,
    plain: (() => {
      const { app, tenants } = multiTenantApp(authority, AGENTS);
      return { clientId: app.clientId, secret: app.addSecret(), tenants };
    })(),
  };
  process.stderr.write(`bench: agent identities (${AGENTS})…\n`);
  const r = await runContender<AgentsResult, AgentsInput>(
    join(__dirname, 'agents-contender.ts'),
    input,
    authority.caPath,
    { exposeGc: true },
  );
  const t1 = authority.countTokenRequests({ clientId: blueprint.clientId, scope: EXCHANGE_SCOPE });
  const own = agents.reduce((n, a) => n + authority.countTokenRequests({ clientId: a }), 0);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
  return [
    `## Agent identities: ${AGENTS.toLocaleString('en-US')} agents under one blueprint`,
    '',
    ...table(
      ['', 'this library'],
      [
        [
          'cold: token exchange requests (leg 1) / agent requests (leg 2) / failed calls',
          `${t1} / ${own} / ${r.coldFailures}`,
        ],
        ['cold sweep wall time (50 agents at a time)', `${fmt(r.coldMs)} ms`],
        [
          `cache hit by agent, µs (× an awaited Map.get of ${AGENTS} keys; × a plain hit of ${AGENTS} tokens)`,
          `${r.hitMicros.toFixed(2)} (${r.ratio.toFixed(2)}×; ${r.plainRatio.toFixed(2)}×) — floor ${r.floorMicros.toFixed(2)}, plain ${r.plainMicros.toFixed(2)}`,
        ],
        [
          'memory per agent token pair (both legs cached, and all kept for them)',
          kb(r.bytesPerAgent),
        ],
      ],
    ),
  ];
}
