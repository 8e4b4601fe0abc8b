import { rootCertificates } from 'node:tls';
import { createClient, createCluster, createSentinel, type RedisClientOptions } from '@keyv/redis';
import type { ResolvedSharedCacheOptions } from '../options/resolved-shared-cache';
import { slotMapReadBoundMs } from './cluster-topology';
import type { RedisClientLike } from '../shared-cache.options';
import { withDeadline } from '../timing/timers';

/** Backoff between connection attempts: up to 2 s, with jitter so replicas do not align. */
export function reconnectDelay(retries: number): number {
  return Math.min(100 * 2 ** Math.min(retries, 5), 2000) + Math.floor(Math.random() * 100);
}

/**
 * Builds the node-redis client for the configured topology (not connected yet). Commands are never
 * queued while a node is unreachable (`disableOfflineQueue`): the caller goes on without Redis.
 * Credentials are given per connection through a credentials provider, so that a
 * `passwordProvider` is asked again at each reconnection (a rotated password, a fresh token).
 */
export function createRedisClient(options: ResolvedSharedCacheOptions): RedisClientLike {
  const socket = {
    connectTimeout: 2000,
    reconnectStrategy: reconnectDelay,
    ...tlsOptions(options),
  };
  const login = loginOptions(options);
  if (options.cluster !== undefined) {
    // A root node is asked for the slot map (at the start, and when a re-read's first node cannot
    // answer): one that accepts connections but never answers (frozen, cut off) fails in bounded
    // time, not when TCP gives up. Node clients have no such timeout: an idle one would be closed.
    const discovery = { socket: { socketTimeout: slotMapReadBoundMs(options.operationTimeoutMs) } };
    return createCluster({
      rootNodes: options.cluster.nodes.map((url) => ({ url, ...discovery })),
      // Defaults reach every node the client discovers, not only the root nodes.
      defaults: { ...login, disableOfflineQueue: true, socket },
    });
  }
  if (options.sentinel !== undefined) {
    const tls = tlsOptions(options);
    return createSentinel({
      name: options.sentinel.masterName,
      sentinelRootNodes: options.sentinel.nodes.map((u) => {
        const url = new URL(u);
        return { host: url.hostname, port: Number(url.port || 26379) };
      }),
      nodeClientOptions: { ...login, disableOfflineQueue: true, socket },
      sentinelClientOptions: { socket: { connectTimeout: 2000, ...tls } },
      // Errors of the pooled master/replica clients reach the one 'error' listener we hold.
      passthroughClientErrorEvents: true,
      // A periodic look at the sentinels, besides the failover notifications they publish.
      scanInterval: 5000,
    });
  }
  return createClient({
    url: options.secrets.redisUrl(),
    ...login,
    disableOfflineQueue: true,
    socket,
  });
}

function tlsOptions(o: ResolvedSharedCacheOptions): { tls: true; ca?: string[] } | object {
  const first = o.secrets.redisUrl() ?? o.cluster?.nodes[0] ?? o.sentinel?.nodes[0] ?? '';
  if (!first.startsWith('rediss:')) return {};
  // `ca` replaces Node's trust store: keep the public roots beside the extra CAs.
  return o.ca.length > 0 ? { tls: true, ca: [...rootCertificates, ...o.ca] } : { tls: true };
}

/**
 * The login of every connection, from `username` and `password` or `passwordProvider`. node-redis
 * awaits the provider inside its connection handshake, where no connect or socket timeout
 * applies: a call that never settles would end Redis use for the life of the process. Each call
 * is bounded by `connectTimeoutMs`; past it the attempt fails like a throw, and node-redis's
 * reconnection asks the provider again.
 */
function loginOptions(
  o: ResolvedSharedCacheOptions,
): Pick<RedisClientOptions, 'credentialsProvider'> {
  const provider = o.secrets.passwordProvider();
  const password = o.secrets.password();
  if (provider === undefined && password === undefined && o.username === undefined) return {};
  const username = o.username;
  const bound = o.connectTimeoutMs;
  const ask = (call: () => Promise<string> | string): Promise<string> =>
    withDeadline(
      Promise.resolve().then(call),
      bound,
      () =>
        new Error(
          `cache.shared.passwordProvider did not answer within ${bound} ms (connectTimeoutMs): the connection is tried again, and the provider asked again`,
        ),
    );
  return {
    credentialsProvider: {
      type: 'async-credentials-provider',
      credentials: async () => ({
        username,
        password: provider === undefined ? password : await ask(provider),
      }),
    },
  };
}

/**
 * Listens to every sentinel's `+switch-master` announcement and calls `onSwitch` with the new
 * master's `host:port` when it is about `options.sentinel.masterName`. node-redis's sentinel client
 * hears it too, but when the master is down it retries its lookup only once a second, and reached
 * the new master 0.8 to 1.3 s after the switch here: the library follows the announcement itself.
 * One subscription per sentinel (a sentinel that is down is skipped; a dropped connection
 * reconnects with backoff). Returns what ends the subscriptions.
 */
export function watchMasterSwitch(
  options: ResolvedSharedCacheOptions,
  onSwitch: (address: string) => void,
): () => void {
  const sentinel = options.sentinel;
  if (sentinel === undefined) return () => undefined;
  const clients = sentinel.nodes.map((u) => {
    const url = new URL(u);
    const client = createClient({
      socket: {
        host: url.hostname,
        port: Number(url.port || 26379),
        connectTimeout: 2000,
        reconnectStrategy: reconnectDelay,
        ...tlsOptions(options),
      },
    });
    client.on('error', () => undefined);
    client
      .connect()
      .then(() =>
        client.subscribe('+switch-master', (message: string) => {
          // `<master name> <old ip> <old port> <new ip> <new port>`
          const [name, , , host, port] = message.split(' ');
          if (name === sentinel.masterName && host && port) onSwitch(`${host}:${port}`);
        }),
      )
      .catch(() => undefined);
    return client;
  });
  return () => {
    for (const client of clients) if (client.isOpen) client.destroy();
  };
}
