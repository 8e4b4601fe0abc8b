import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';

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
  readonly agent: Dispatcher;
  users: number;
}

/** A lease on a shared agent; `release` closes the agent when its last user is gone. */
export interface AgentLease {
  readonly agent: Dispatcher;
  release(): Promise<void>;
}

/** The proxy of the environment, read when an agent is built (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`). */
interface ProxyEnvironment {
  readonly httpsProxy?: string;
  readonly httpProxy?: string;
  readonly noProxy?: string;
}

function proxyEnvironment(): ProxyEnvironment | undefined {
  const env = (name: string) => process.env[name] ?? process.env[name.toLowerCase()] ?? undefined;
  const httpsProxy = env('HTTPS_PROXY');
  const httpProxy = env('HTTP_PROXY');
  if (!httpsProxy && !httpProxy) return undefined;
  return { httpsProxy, httpProxy, noProxy: env('NO_PROXY') };
}

/**
 * Whether a request is a managed identity request: every such protocol marks its requests with
 * a header of its own (IMDS, Arc and Cloud Shell `Metadata: true`, App Service `X-IDENTITY-HEADER`,
 * Service Fabric `secret`). Their endpoints are local to the host (169.254.169.254, localhost):
 * a corporate proxy cannot reach them, and IMDS refuses proxied requests.
 */
function isManagedIdentityRequest(headers: Dispatcher.DispatchOptions['headers']): boolean {
  if (headers === null || headers === undefined) return false;
  const names: string[] = [];
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) names.push(String(headers[i]).toLowerCase());
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name] of headers as Iterable<[string, unknown]>) names.push(name.toLowerCase());
  } else {
    names.push(...Object.keys(headers).map((n) => n.toLowerCase()));
  }
  return names.some((n) => n === 'metadata' || n === 'x-identity-header' || n === 'secret');
}

/**
 * Token endpoint and discovery requests through the proxy of the environment (CONNECT tunnels;
 * `NO_PROXY` hosts direct), managed identity requests always direct. Both sides keep the pooling
 * and the shared TLS context.
 */
class ProxyRouting extends Dispatcher {
  constructor(
    private readonly proxied: EnvHttpProxyAgent,
    private readonly direct: Agent,
  ) {
    super();
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const target = isManagedIdentityRequest(options.headers) ? this.direct : this.proxied;
    return target.dispatch(options, handler);
  }

  override async close(): Promise<void> {
    await Promise.all([this.proxied.close(), this.direct.close()]);
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.proxied.destroy(), this.direct.destroy()]);
  }
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
  const proxy = proxyEnvironment();
  const caKey = ca?.length ? createHash('sha256').update(ca.join('\n')).digest('hex') : '';
  // Apps of one process started under different proxy settings (tests) do not share agents.
  const key = proxy === undefined ? caKey : `${caKey}|${JSON.stringify(proxy)}`;
  let shared = agents.get(key);
  if (shared === undefined) {
    const secureContext: SecureContext | undefined = ca?.length
      ? createSecureContext({ ca: [...rootCertificates, ...ca] })
      : undefined;
    const options = {
      connect: secureContext ? { secureContext } : {},
      connectTimeout: CONNECT_TIMEOUT_MS,
      connections: CONNECTIONS_PER_ORIGIN,
      keepAliveTimeout: 30_000,
    };
    const direct = new Agent(options);
    shared = {
      agent:
        proxy === undefined
          ? direct
          : new ProxyRouting(
              // requestTls: the TLS to the authority inside the tunnel trusts the same CAs.
              new EnvHttpProxyAgent({ ...options, ...proxy, requestTls: options.connect }),
              direct,
            ),
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
