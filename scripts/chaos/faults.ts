import type { DevAuthority, FaultSpec } from '../../libs/dev-authority/src';
import type { RedisServer } from '../../test/support/redis-server';
import type { DaemonProcess } from './daemon-process';
import type { RedisMonitor } from './redis-monitor';

/** A credential of the daemons' configuration, in its own tenant so a fault can hit it alone. */
export interface ChaosCredential {
  name: string;
  clientId: string;
  tenantId: string;
}

/** What a fault can reach. */
export interface ChaosContext {
  authority: DevAuthority;
  redis: RedisServer;
  monitor: RedisMonitor;
  daemons: DaemonProcess[];
  log: (line: string) => void;
  /** Lifetime of the tokens the authority issues in the campaign. */
  lifetimeMs: number;
}

/** Undoes what {@link Fault.inject} did. */
export type Lift = () => Promise<void> | void;

/** A fault in place: how to lift it, and whether it provably met the refresh (when it knows). */
export interface Injected {
  lift: Lift;
  /** E.g. the lock holder was found and killed; undefined: judged from the authority's log. */
  hit?: boolean;
}

/**
 * A fault. `inject` puts it in place for `target` (the credential at whose refresh point it is
 * injected; undefined: every credential, at a fixed time) and returns how to lift it; the
 * campaign lifts it `durationMs` later.
 */
export interface Fault {
  name: string;
  /** How long it stays in place, unless `endsWhen` says. */
  durationMs: number;
  /**
   * An event that ends it instead of a clock (e.g. the authority has answered N requests with
   * it): what makes a short run deterministic. Bounded by `durationMs` all the same.
   */
  endsWhen?(ctx: ChaosContext, target: ChaosCredential | undefined, since: number): Promise<void>;
  /**
   * Token endpoint faults are injected once per credential, each just before that credential's
   * refresh point, for its tenant only. The others once, at the first credential's refresh point.
   */
  perCredential: boolean;
  /** The latency it adds to token requests, so that a token counts as held once it arrived. */
  latencyMs?: number;
  inject(ctx: ChaosContext, target?: ChaosCredential): Promise<Injected> | Injected;
}

/** A fault of the authority's token endpoint, for one credential's tenant (or all). */
function tokenFault(name: string, durationMs: number, spec: FaultSpec): Fault {
  return {
    name,
    durationMs,
    perCredential: true,
    latencyMs: spec.kind === 'latency' ? spec.latencyMs : undefined,
    inject: ({ authority }, target) => {
      const id = authority.faults.add({ target: 'token', ...spec, tenantId: target?.tenantId });
      return { lift: () => authority.faults.remove(id) };
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `count` token requests of the credential since `since` match `outcome`. */
async function tokenRequests(
  { authority }: ChaosContext,
  target: ChaosCredential | undefined,
  since: number,
  count: number,
  outcome: 'ok' | 'fault',
): Promise<void> {
  for (;;) {
    const seen = authority.log.filter(
      (e) =>
        e.target === 'token' &&
        e.outcome === outcome &&
        e.at.getTime() >= since &&
        (target === undefined || e.clientId === target.clientId.toLowerCase()),
    ).length;
    // Bounded: the campaign lifts the fault after its durationMs anyway.
    if (seen >= count || Date.now() - since > 60_000) return;
    await sleep(20);
  }
}

/**
 * A token endpoint fault for the next `times` token requests of a credential, injected at its
 * refresh point: the refresh meets exactly that many failures, then the authority answers.
 */
function countedTokenFault(name: string, times: number, spec: FaultSpec): Fault {
  return {
    ...tokenFault(name, 15_000, { ...spec, times }),
    endsWhen: (ctx, target, since) => tokenRequests(ctx, target, since, times, 'fault'),
  };
}

/**
 * The replica that takes the refresh lock is SIGKILLed while its token request is in flight (the
 * authority answers 2 s late), and restarted 5 s later: the others must not wait for a lock whose
 * holder is dead until their token is gone.
 */
const lockHolderKill: Fault = {
  name: 'replica holding the refresh lock SIGKILLed, restarted after 5 s',
  durationMs: 5_000,
  perCredential: false,
  latencyMs: 2_000,
  inject: async (ctx, target) => {
    const { authority, monitor, daemons, log } = ctx;
    const id = authority.faults.add({
      target: 'token',
      kind: 'latency',
      latencyMs: 2_000,
      tenantId: target?.tenantId,
    });
    // The lock taken from now on is the refresh's: the attempt that wrote the holder id Redis
    // holds names the connection, and so the process.
    const from = monitor.ops.length;
    let victim: DaemonProcess | undefined;
    // Up to half a token lifetime: the refresh point is spread by the jitter (±5% of the lifetime
    // around the point, then up to 5% more per replica that adopted the token), and after an
    // earlier fault the replicas may hold tokens of different ages; 5 s missed the lock in 2 runs.
    const waitMs = ctx.lifetimeMs / 2;
    for (let waited = 0; victim === undefined && waited < waitMs; waited += 20) {
      await sleep(20);
      const attempt = monitor.ops.slice(from).find((o) => o.owner !== undefined);
      if (attempt === undefined) continue;
      const owner = await monitor.get(attempt.key!);
      const won = monitor.ops.slice(from).find((o) => o.owner === owner);
      const pid = won && monitor.owners.get(won.client);
      victim = pid ? daemons.find((d) => d.pid === pid) : undefined;
    }
    const hit = victim !== undefined;
    victim ??= daemons[0];
    log(
      `  ${hit ? 'lock holder' : `no lock taken within ${waitMs / 1000} s; killing`}: daemon ${victim.index}`,
    );
    await victim.kill();
    return {
      hit,
      lift: async () => {
        authority.faults.remove(id);
        await victim.start();
      },
    };
  },
};

/** The faults of the campaign, by name. */
export const FAULTS = {
  burst503: tokenFault('503 burst', 10_000, { kind: 'status', status: 503 }),
  throttle429: tokenFault('429 with Retry-After: 5', 10_000, {
    kind: 'throttle',
    retryAfterSeconds: 5,
  }),
  reset: tokenFault('connection resets', 10_000, { kind: 'reset' }),
  latency: tokenFault('2 s latency', 10_000, { kind: 'latency', latencyMs: 2000 }),
  html502: tokenFault('HTML 502', 10_000, { kind: 'html502' }),
  nonJson: tokenFault('non-JSON body', 10_000, { kind: 'non-json' }),
  // The authority 4 s behind the daemons and the API (less than the library's expiry skew): a
  // jump of the API's clock past tokens already issued is not a client's to absorb.
  clockShift: tokenFault('authority clock 4 s behind', 10_000, {
    kind: 'clock-shift',
    clockShiftSeconds: -4,
  }),
  outage: tokenFault('token endpoint down 35 s (> lifetime)', 35_000, {
    kind: 'status',
    status: 503,
  }),
  redis: {
    name: 'Redis killed, restarted after 8 s',
    durationMs: 8_000,
    perCredential: false,
    inject: async ({ redis, monitor }) => {
      await redis.kill();
      return {
        lift: async () => {
          await redis.restart();
          await monitor.attach();
        },
      };
    },
  } satisfies Fault,
  lockHolderKill,
  daemonKill: {
    name: 'daemon 1 SIGKILLed, restarted after 5 s',
    durationMs: 5_000,
    perCredential: false,
    inject: async ({ daemons }) => {
      await daemons[0].kill();
      return { lift: () => daemons[0].start() };
    },
  } satisfies Fault,
};

/** Where and when one injection of a fault was in force. */
export interface FaultWindow {
  fault: Fault;
  /** The credential at whose refresh point it was injected (and whose tenant a token fault hit). */
  credential?: string;
  tenantId?: string;
  /** Whether it met the refresh, when the fault itself could tell. */
  hit?: boolean;
  start: number;
  end: number;
  /** End of the quiet time after it: runs until then are the fault's. */
  until: number;
}

/**
 * The faults of the short campaign in `npm test`: each ends on an event (requests counted, a
 * process up again), not after a time that would race the daemons' timers.
 */
export const SHORT_FAULTS = {
  refresh503: countedTokenFault('503 to the next 3 token requests', 3, {
    kind: 'status',
    status: 503,
  }),
  redis: {
    name: 'Redis killed until a token was fetched without it',
    durationMs: 15_000,
    perCredential: false,
    inject: async ({ redis, monitor }) => {
      await redis.kill();
      return {
        lift: async () => {
          await redis.restart();
          await monitor.attach();
        },
      };
    },
    endsWhen: (ctx, target, since) => tokenRequests(ctx, target, since, 1, 'ok'),
  } satisfies Fault,
  daemonRestart: {
    name: 'daemon 1 SIGKILLed and restarted',
    durationMs: 15_000,
    perCredential: false,
    inject: async ({ daemons }) => {
      await daemons[0].kill();
      return { lift: () => undefined };
    },
    endsWhen: ({ daemons }) => daemons[0].start(),
  } satisfies Fault,
};
