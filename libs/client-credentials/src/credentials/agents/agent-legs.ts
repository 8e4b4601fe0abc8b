import type { LoggerService } from '@nestjs/common';
import type { AuthorityNetworkClient } from '../../authority/msal-network';
import type { TokenClient } from '../../authority/token-client';
import type { TokenMetrics } from '../../observability/token-metrics';
import type { Principal } from '../principal';
import type { TokenRequest } from '../token-request';
import type { Blueprint } from './blueprint';

/**
 * What an agent's legs need of the service's token path: the token of another leg (the
 * blueprint's token exchange token, the agent's own), through the same cache, flights, store and
 * cool-downs as any token; and a way to stop serving one the authority refused as an assertion.
 */
export interface LegTokens {
  /** The token of `request`: from memory, the store, or one flight shared with every caller. */
  token(request: TokenRequest): Promise<string>;
  /** Stops serving `token` for `request` (the authority refused it as a client assertion). */
  refuse(request: TokenRequest, token: string): void;
  /**
   * Forgets the in-memory tokens of `principal`, a leg of an agent the directory let go: a call
   * naming the agent again makes a new one, which reads them back from the store or asks anew.
   */
  drop(principal: Principal): void;
}

/** What the agents of a blueprint are built with. */
export interface AgentContext {
  readonly keyPrefix: string;
  readonly network: AuthorityNetworkClient;
  readonly metrics: TokenMetrics;
  readonly logger: LoggerService;
  /**
   * The most agents kept; past it the least recently used one goes (second chance: an agent named
   * since the last look is spared once), with its tokens in memory: they are read back from the
   * store, or asked for again, when it is named next.
   */
  readonly maxAgents?: number;
  /** The longest Retry-After honoured (`retry.maxRetryAfterMs`): an error says no more. */
  readonly maxRetryAfterMs?: number;
  /** The longest one request (and a `tokenRequest.customize` hook) may take. */
  readonly requestMs?: number;
}

/** What an agent identity needs of its blueprint's directory of agents. */
export interface AgentHome {
  readonly blueprint: Blueprint;
  readonly context: AgentContext;
  /** The scope of the blueprint's token exchange tokens (leg 1). */
  readonly tokenExchangeScope: string;
  /** The legs' token path, wired at start-up. */
  readonly tokens?: LegTokens;
  /** An msal client of the agent identity `id`: its own client id, the blueprint's authority. */
  createClient(id: string): TokenClient;
}
