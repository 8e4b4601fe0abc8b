/**
 * The refresh-storm section of `npm run bench`: `STORM_TOKENS` tokens cached by each contender —
 * one per tenant of a multi-tenant app — come due at one instant; callers keep asking for them
 * through a fixed window. Counted at the authority (token requests, TLS connections) and in the
 * contender (loop delay, latencies, failures).
 *
 * Tenants rather than 5,000 scopes: msal-node looks its cache up linearly, so caching 5,000 scopes
 * in one application takes minutes (and then each call scans them all); one application per tenant
 * is how a multi-tenant daemon uses msal-node, and @azure/identity does the same inside.
 */
import { join } from 'node:path';
import type { DevAuthority } from '../libs/dev-authority/src';
import { CONTENDER_LABELS, type ContenderKind } from './clients';
import type { StormInput, StormResult } from './storm-contender';
import { fmt, multiTenantApp, runContender, scaled, table, withRatio } from './support';

const STORM_TOKENS = scaled(5000, 50);
const CALLERS = 50;
const WINDOW_MS = Number(process.env.BENCH_STORM_WINDOW_MS ?? 10_000);
/**
 * Lifetime of the storm's tokens. This library never refreshes before a tenth of a token's life
 * (an authority's smaller `refresh_in` is floored), so its storm can come no sooner than
 * `LIFETIME_S / 10` after the last token is cached; and msal-node serves no token from its cache
 * within 5 minutes of expiry, so the lifetime must outlast 300 s plus fill, wait and window.
 */
const LIFETIME_S = 400;
/** This library's floor on `refresh_in`, in seconds. */
const OUR_MIN_REFRESH_S = LIFETIME_S / 10;
/** Time each contender gets to cache the tokens before they come due (msal-node's fill is slowest). */
const FILL_BUDGET_MS: Record<ContenderKind, number> = {
  'ours-ca': scaled(8000, 3000),
  ours: scaled(8000, 3000),
  msal: scaled(12_000, 3000),
  identity: scaled(30_000, 3000),
};

interface Row {
  kind: ContenderKind;
  result: StormResult;
  requests: number;
  distinct: number;
  failedRequests: number;
  tls: number;
  tlsTotal: number;
}

/** Runs the storm for each contender in turn; returns the section's Markdown lines. */
export async function stormSection(
  authority: DevAuthority,
  kinds: readonly ContenderKind[],
): Promise<string[]> {
  const { home, app, tenants } = multiTenantApp(authority, STORM_TOKENS);
  const secret = app.addSecret();
  const inStorm = new Set(tenants);
  const rows: Row[] = [];
  for (const kind of kinds) {
    const minRefreshS = kind.startsWith('ours') ? OUR_MIN_REFRESH_S : 1;
    const dueAt = Date.now() + FILL_BUDGET_MS[kind] + Math.max(1500, minRefreshS * 1000);
    // refresh_in is whole seconds from issue: re-aimed at `dueAt` while the contender fills its
    // cache, so that every token comes due within about a second of it, however long the fill.
    // (The default lifetime policy: nothing else asks the authority for tokens meanwhile.)
    const aim = () =>
      authority.setAccessTokenLifetime(LIFETIME_S, {
        refreshInSeconds: Math.max(minRefreshS, Math.round((dueAt - Date.now()) / 1000)),
      });
    aim();
    const aiming = setInterval(aim, 50);
    const tls: Record<string, number> = { start: authority.tlsConnections };
    const input: StormInput = {
      kind,
      authorityUrl: authority.url,
      caPem: authority.caPem,
      tenantId: home.tenantId,
      clientId: app.clientId,
      credential: { type: 'secret', secret },
      jitter: 0,
      tenants,
      scope: authority.apiScope,
      dueAt,
      windowMs: WINDOW_MS,
      callers: CALLERS,
    };
    process.stderr.write(`bench: storm, ${kind}…\n`);
    let result: StormResult;
    try {
      result = await runContender<StormResult>(
        join(__dirname, 'storm-contender.ts'),
        input,
        authority.caPath,
        {
          onPhase: (m) => {
            tls[m.phase] = authority.tlsConnections;
            // Refreshed tokens must not come due again inside the window.
            if (m.phase === 'filled') {
              clearInterval(aiming);
              authority.setAccessTokenLifetime(LIFETIME_S, { refreshInSeconds: LIFETIME_S / 2 });
            }
          },
        },
      );
    } finally {
      clearInterval(aiming);
      authority.setAccessTokenLifetime(3600); // the authority's default again
    }
    if (result.fillFailures > 0)
      process.stderr.write(
        `bench: ${kind}: ${result.fillFailures} fill calls failed, retried (${result.fillError})\n`,
      );
    if (result.fillMs > FILL_BUDGET_MS[kind])
      process.stderr.write(
        `bench: ${kind} took ${Math.round(result.fillMs)} ms to fill (budget exceeded)\n`,
      );
    const inWindow = authority.log.filter(
      (e) =>
        e.target === 'token' &&
        inStorm.has(e.tenantId ?? '') &&
        e.at.getTime() >= result.windowStart &&
        e.at.getTime() <= result.windowEnd,
    );
    rows.push({
      kind,
      result,
      requests: inWindow.length,
      distinct: new Set(inWindow.map((e) => e.tenantId)).size,
      failedRequests: inWindow.filter((e) => e.outcome !== 'ok').length,
      tls: (tls.end ?? authority.tlsConnections) - (tls.storm ?? tls.start),
      tlsTotal: authority.tlsConnections - tls.start,
    });
  }
  return render(rows);
}

function render(rows: Row[]): string[] {
  const ref = rows.find((r) => r.kind === 'ours') ?? rows[0];
  const cell = (r: Row, v: (x: Row) => number | undefined) => withRatio(v(r), v(ref), r === ref);
  const timeouts = (r: Row) =>
    r.result.failures === undefined
      ? '—'
      : String(
          Object.entries(r.result.failures)
            .filter(([code]) => code === 'timeout')
            .reduce((n, [, c]) => n + c, 0),
        );
  const otherFailures = (r: Row) =>
    r.result.failures === undefined
      ? ''
      : Object.entries(r.result.failures)
          .filter(([code]) => code !== 'timeout')
          .map(([code, n]) => ` ${code}: ${n}`)
          .join(',');
  return [
    `## Refresh storm: ${STORM_TOKENS.toLocaleString('en-US')} tokens due at once, ${CALLERS} callers for ${WINDOW_MS / 1000} s`,
    '',
    `Each contender caches ${STORM_TOKENS.toLocaleString('en-US')} tokens (one per tenant of a multi-tenant app, ${LIFETIME_S} s ` +
      'lifetime) whose `refresh_in` brings them due at one instant (this library: `refresh.jitter: 0`, ' +
      `each token hit once so that its timer fires); from that instant ${CALLERS} callers cycle through ` +
      'them, each call followed by a turn of the event loop. msal-node and @azure/identity refresh on the ' +
      'caller after `refreshOn` (their behaviour, measured as is). Ratios are to this library with ' +
      'NODE_EXTRA_CA_CERTS. Requests and TLS connections are counted at the authority, within the window.',
    '',
    ...table(
      [
        'contender',
        'loop delay p99, ms',
        'loop delay max, ms',
        'longest GC pause, ms',
        'TLS connections in window (whole run)',
        'slowest call, ms',
        'slowest hit, ms',
        'calls (failed)',
        'token requests',
        'tokens refreshed',
        'duplicates',
        'refresh timeouts',
        'due spread, ms',
      ],
      rows.map((r) => [
        CONTENDER_LABELS[r.kind],
        cell(r, (x) => x.result.loop.p99),
        cell(r, (x) => x.result.loop.max),
        fmt(r.result.gcMaxMs),
        `${r.tls} (${r.tlsTotal})`,
        cell(r, (x) => x.result.slowestCallMs),
        r.result.slowestHitMs === undefined ? '—' : fmt(r.result.slowestHitMs),
        `${r.result.calls.toLocaleString('en-US')} (${r.result.failedCalls})`,
        `${r.requests}${r.failedRequests ? ` (${r.failedRequests} failed)` : ''}`,
        String(r.distinct),
        String(r.requests - r.distinct),
        timeouts(r) + otherFailures(r),
        r.result.dueSpreadMs === undefined ? '—' : fmt(r.result.dueSpreadMs),
      ]),
    ),
    '',
    'Targets (issue 16): loop delay max ≤ 50 ms; connections ≤ 16 (the pool per host); 0 refresh ' +
      'timeouts and 0 failed calls; no hit slower than 10 ms; each token refreshed once.',
  ];
}
