import { loadDaemonConfig } from './load-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';

/** A valid configuration with one interval worker, changed by `patch`. */
function config(patch: { intervalSeconds?: unknown; shutdownTimeoutSeconds?: unknown }) {
  return {
    ...(patch.shutdownTimeoutSeconds === undefined
      ? {}
      : { shutdownTimeoutSeconds: patch.shutdownTimeoutSeconds }),
    downstreamApis: {
      orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' },
    },
    credentials: {
      orders: { tenantId: TENANT, clientId: CLIENT, sources: [{ type: 'secret', secret: 's' }] },
    },
    workers: {
      poller: {
        type: 'poller',
        intervalSeconds: patch.intervalSeconds ?? 30,
        credential: 'orders',
      },
    },
  };
}

function problems(patch: Parameters<typeof config>[0]): string[] {
  try {
    loadDaemonConfig({ config: config(patch), env: {} });
  } catch (e) {
    return (e as Error).message.split('\n').slice(1);
  }
  return [];
}

/** Durations the daemon hands to timers: bounded, so that none is above what a schedule means. */
describe('daemon configuration: durations', () => {
  it('takes an intervalSeconds from 1 s up to 7 days', () => {
    expect(problems({ intervalSeconds: 1 })).toEqual([]);
    expect(problems({ intervalSeconds: 1.5 })).toEqual([]);
    expect(problems({ intervalSeconds: 7 * 86_400 })).toEqual([]);
  });

  it.each([0.001, 1e-9, 0.25])('refuses an intervalSeconds below 1 s (%s), saying why', (v) => {
    expect(problems({ intervalSeconds: v })).toEqual([
      '  - workers.poller.intervalSeconds: must be at least 1 (second): each tick runs the worker and calls its API, so a smaller value (a typo such as 0.001?) floods it and the log; for sub-second work this daemon is the wrong tool',
    ]);
  });

  it('refuses a longer intervalSeconds (a monthly job) and names cron', () => {
    expect(problems({ intervalSeconds: 30 * 86_400 })).toEqual([
      "  - workers.poller.intervalSeconds: must be at most 604800 (7 days): an interval counts from the daemon's start, so every restart moves it; for a longer schedule use 'cron', e.g. '0 0 3 1 * *' (03:00 on the 1st of each month)",
    ]);
    expect(problems({ intervalSeconds: Infinity })).toHaveLength(1);
    expect(problems({ intervalSeconds: 0 })).toEqual([
      '  - workers.poller.intervalSeconds: must be a number above 0: set intervalSeconds, e.g. 30',
    ]);
  });

  it('takes a shutdownTimeoutSeconds up to an hour and refuses a longer one', () => {
    expect(problems({ shutdownTimeoutSeconds: 3_600 })).toEqual([]);
    expect(problems({ shutdownTimeoutSeconds: 30 * 86_400 })).toEqual([
      '  - shutdownTimeoutSeconds: must be at most 3600 (an hour): the orchestrator stops waiting long before (Kubernetes kills a pod 30 s after SIGTERM unless terminationGracePeriodSeconds says otherwise); keep it below its grace period',
    ]);
  });
});

/** The agents worker: a blueprint credential and at least one of its agents. */
describe('daemon configuration: agents worker', () => {
  const AGENT = '6c1e8a61-1b2c-4d3e-8f90-0a1b2c3d4e5f';
  function load(credential: Record<string, unknown>, agents: unknown): string[] {
    try {
      loadDaemonConfig({
        config: {
          downstreamApis: {
            orders: { baseUrl: 'https://orders.contoso.com', scopes: 'api://orders/.default' },
          },
          credentials: {
            fleet: {
              tenantId: TENANT,
              clientId: CLIENT,
              sources: [{ type: 'secret', secret: 's' }],
              ...credential,
            },
          },
          workers: { fleet: { type: 'agents', intervalSeconds: 30, credential: 'fleet', agents } },
        },
        env: {},
      });
    } catch (e) {
      return (e as Error).message.split('\n').slice(1);
    }
    return [];
  }

  it('takes agents of a blueprint, by name or app id', () => {
    expect(load({ agentBlueprint: { agents: { billing: AGENT } } }, ['billing', AGENT])).toEqual(
      [],
    );
  });

  it('refuses a credential that is no blueprint, and an empty list', () => {
    expect(load({}, ['billing'])).toEqual([
      "  - workers.fleet.credential: credential 'fleet' is not an agent identity blueprint: an agents worker needs one — set 'agentBlueprint' on it (see docs/agents.md)",
    ]);
    expect(load({ agentBlueprint: true }, [])).toEqual([
      "  - workers.fleet.agents: an agents worker needs at least one agent: list agent identities (names of the credential's agentBlueprint.agents, or app ids) under 'agents'",
    ]);
  });
});
