import type { TokenEventTarget } from '../client-credentials.events';
import type { ResolvedWarmUp, WarmUpTarget } from '../options/resolved-options';

/** What the warm-up asks of the token service. */
export interface WarmUpCalls {
  /** A token for `target`, as a caller gets it (cache, single flight, store, authority). */
  get(target: WarmUpTarget, signal: AbortSignal): Promise<unknown>;
  /** Which token `target` is: its credential, tenant and scopes, resolved. */
  describe(target: WarmUpTarget): TokenEventTarget;
}

/** What a warm-up calls of the token service (a structure: no layer below imports the service). */
export interface WarmUpService {
  getAccessToken(
    scopes: string | readonly string[],
    options: { credential?: string; tenantId?: string; agent?: string; signal?: AbortSignal },
  ): Promise<unknown>;
  checkRequest(
    scopes: string | readonly string[],
    options: { credential?: string; tenantId?: string; agent?: string },
  ): void;
  tenantOf(credential?: string): string;
}

/**
 * The declared tokens that a call could not ask for (an unknown credential, a meta-tenant, a
 * scope Entra refuses, an agent of no blueprint), as `warmUp.tokens[i]: why`: checked at start.
 */
export function warmUpProblems(settings: ResolvedWarmUp, service: WarmUpService): string[] {
  return settings.targets.flatMap(({ declaredAt, scopes, ...call }) => {
    try {
      service.checkRequest(scopes, call);
      return [];
    } catch (e) {
      return [`${declaredAt}: ${(e as Error).message}`];
    }
  });
}

/** The warm-up's calls through `service`; `nameOf` names a credential (the default for none). */
export function warmUpCalls(
  service: WarmUpService,
  nameOf: (credential?: string) => string,
): WarmUpCalls {
  return {
    get: ({ scopes, declaredAt: _, ...call }, signal) =>
      service.getAccessToken(scopes, { ...call, signal }),
    describe: (t) => ({
      credential: nameOf(t.credential),
      tenantId: t.tenantId ?? service.tenantOf(t.credential),
      scopes: typeof t.scopes === 'string' ? [t.scopes] : [...t.scopes],
      ...(t.agent === undefined ? {} : { agent: t.agent }),
    }),
  };
}
