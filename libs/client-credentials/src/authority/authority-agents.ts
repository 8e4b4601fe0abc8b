import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';
import { ENVIRONMENT_PROXY, type ProxySetting } from '../options/resolved-options';

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

/** A lease on a shared agent; `release` closes the agent when its last user is gone. */
export interface AgentLease {
  readonly agent: Dispatcher;
  release(): Promise<void>;
}

/** A proxy as undici's EnvHttpProxyAgent takes it, plus whether loopback hosts bypass it. */
interface ResolvedProxy {
  readonly url: string;
  readonly noProxy: string;
  readonly bypassLoopback: boolean;
}

function resolveProxy(setting: ProxySetting): ResolvedProxy | undefined {
  if (setting.kind === 'direct') return undefined;
  if (setting.kind === 'explicit') {
    return { url: setting.url, noProxy: setting.noProxy.join(','), bypassLoopback: false };
  }
  const env = (name: string) => process.env[name] || process.env[name.toLowerCase()] || undefined;
  // Authorities are https: HTTPS_PROXY first, HTTP_PROXY as curl and undici fall back to it.
  const url = env('HTTPS_PROXY') ?? env('HTTP_PROXY');
  return url === undefined
    ? undefined
    : { url, noProxy: env('NO_PROXY') ?? '', bypassLoopback: true };
}

/** `localhost`, 127.0.0.0/8 or ::1. */
function isLoopback(origin: string | URL | undefined): boolean {
  if (origin === undefined) return false;
  const host = new URL(String(origin)).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Requests through the proxy (CONNECT tunnels; `noProxy` hosts direct, and loopback hosts direct
 * when the proxy came from the environment). Both sides keep the pool and the TLS context.
 */
class ProxyRouting extends Dispatcher {
  constructor(
    private readonly proxied: EnvHttpProxyAgent,
    private readonly direct: Agent,
    private readonly bypassLoopback: boolean,
  ) {
    super();
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const direct = this.bypassLoopback && isLoopback(options.origin);
    return (direct ? this.direct : this.proxied).dispatch(options, handler);
  }

  override async close(): Promise<void> {
    await Promise.all([this.proxied.close(), this.direct.close()]);
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.proxied.destroy(), this.direct.destroy()]);
  }
}

/** A client certificate to present in the TLS handshake (mTLS): its context holds the CA set too. */
export interface PresentedCertificate {
  /** Its SHA-256 thumbprint (`x5t#S256`): which pool. */
  readonly thumbprint: string;
  /** A TLS context presenting it and trusting `ca` (none: the default roots), built once per CA set. */
  secureContext(options: { ca?: readonly string[] }): SecureContext;
}

interface SharedAgent {
  readonly agent: Dispatcher;
  users: number;
}

const agents = new Map<string, SharedAgent>();

/**
 * The process-wide HTTP agent for authorities trusted through `ca` (none: the public roots),
 * reached as `proxy` says, presenting `certificate` when given (mTLS): one per such set, shared by
 * every credential and source — one kept-alive, bounded pool per authority origin (undici keeps a
 * pool per origin inside an agent).
 *
 * With `ca`, the TLS secure context is built here, once. Passing `ca` to each connection instead
 * makes Node build a context of ~145 roots plus the CA for every new connection: ~20 ms of
 * blocking CPU each, which froze the event loop for minutes in a 5,000-token refresh storm.
 * undici offers no such sharing itself, hence this small registry.
 */
export function leaseAgent(
  ca?: readonly string[],
  proxySetting: ProxySetting = ENVIRONMENT_PROXY,
  certificate?: PresentedCertificate,
): AgentLease {
  const proxy = resolveProxy(proxySetting);
  const caKey = ca?.length ? createHash('sha256').update(ca.join('\n')).digest('hex') : '';
  // A proxy URL may hold a password: the registry's key holds only its digest. A client
  // certificate has a pool of its own: a connection is bound to the certificate of its handshake.
  const key =
    (proxy === undefined
      ? caKey
      : `${caKey}|${createHash('sha256').update(JSON.stringify(proxy)).digest('hex')}`) +
    (certificate === undefined ? '' : `|x5t:${certificate.thumbprint}`);
  let shared = agents.get(key);
  if (shared === undefined) {
    const secureContext: SecureContext | undefined =
      certificate !== undefined
        ? certificate.secureContext({ ca })
        : ca?.length
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
              new EnvHttpProxyAgent({
                ...options,
                httpsProxy: proxy.url,
                httpProxy: proxy.url,
                noProxy: proxy.noProxy,
                // The TLS to the authority inside the tunnel trusts the same CAs.
                requestTls: options.connect,
              }),
              direct,
              proxy.bypassLoopback,
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
