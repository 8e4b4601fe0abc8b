import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenService } from '@app/client-credentials';

/** What {@link useSteadily} saw. */
export interface SteadyUse {
  calls: number;
  failed: number;
  /** The distinct tokens the calls got, in order. */
  tokens: string[];
}

/**
 * A worker's steady use of a token: a call every 250 ms for `ms`, as a scheduled job would make
 * (the library refreshes only tokens in use). Counts calls, failures and distinct tokens.
 */
export async function useSteadily(
  tokens: TokenService,
  scope: string,
  ms: number,
): Promise<SteadyUse> {
  const seen: SteadyUse = { calls: 0, failed: 0, tokens: [] };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.calls++;
    try {
      const { token } = await tokens.getAccessToken(scope);
      if (seen.tokens.at(-1) !== token) seen.tokens.push(token);
    } catch {
      seen.failed++;
    }
    await sleep(250);
  }
  return seen;
}
