import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent } from 'undici';

/**
 * Connections kept per authority origin. A burst of token requests (a refresh storm, a tenant
 * sweep) queues on them instead of opening one connection, and one TLS handshake, per request.
 */
export const CONNECTIONS_PER_ORIGIN = 16;

/**
 * Longest TCP + TLS connect. Each request has its own, usually shorter, deadline on top
 * (`timeouts.requestMs`); this only bounds a connect that outlives it.
 */
const CONNECT_TIMEOUT_MS = 30_000;

interface SharedAgent {
  readonly agent: Agent;
  users: number;
}

/** A lease on a shared agent; `release` closes the agent when its last user is gone. */
export interface AgentLease {
  readonly agent: Agent;
  release(): Promise<void>;
}

const agents = new Map<string, SharedAgent>();

/**
 * The process-wide HTTP agent for authorities trusted through `ca` (none: the public roots): one
 * per set of extra CAs, shared by every credential and source — one kept-alive, bounded pool per
 * authority origin (undici keeps a pool per origin inside an agent).
 *
 * With `ca`, the TLS secure context is built here, once. Passing `ca` to each connection instead
 * makes Node build a context of ~145 roots plus the CA for every new connection: ~20 ms of
 * blocking CPU each, which froze the event loop for minutes in a 5,000-token refresh storm.
 * undici offers no such sharing itself, hence this small registry.
 */
export function leaseAgent(ca?: readonly string[]): AgentLease {
  const key = ca?.length ? createHash('sha256').update(ca.join('\n')).digest('hex') : '';
  let shared = agents.get(key);
  if (shared === undefined) {
    const secureContext: SecureContext | undefined = ca?.length
      ? createSecureContext({ ca: [...rootCertificates, ...ca] })
      : undefined;
    shared = {
      agent: new Agent({
        connect: secureContext ? { secureContext } : {},
        connectTimeout: CONNECT_TIMEOUT_MS,
        connections: CONNECTIONS_PER_ORIGIN,
        keepAliveTimeout: 30_000,
      }),
      users: 0,
    };
    agents.set(key, shared);
  }
  shared.users++;
  const lease = shared;
  let released = false;
  return {
    agent: lease.agent,
    release: async () => {
      if (released) return;
      released = true;
      if (--lease.users > 0) return;
      if (agents.get(key) === lease) agents.delete(key);
      // destroy, not close: shutdown must not wait for a slow authority.
      await lease.agent.destroy();
    },
  };
}
