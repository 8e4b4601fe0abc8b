/**
 * The Redis deployments fleets run, started on loopback for tests and the bench: a Redis Cluster
 * (masters with replicas), a Sentinel-monitored master with a replica, and a TLS-only Redis with an
 * ACL user. Every process binds 127.0.0.1 on a free port; each deployment keeps its files in one
 * temp dir, and `stop()` kills every process and deletes that dir. A start that fails stops what
 * it started before it rejects.
 *
 * Failure detection is shortened (`cluster-node-timeout`, sentinel `down-after-milliseconds`) so
 * that a failover takes a second or two rather than the production 15–30 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import { createCa, issueCertificate } from '@app/dev-authority/pki';
import { freePort, RedisStartError, redisBinary, terminate } from './redis-server';

/** One `redis-server` process of a deployment. */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, or `rediss://…` for a TLS deployment. */
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL: the node vanishes, as a crashed VM would. */
  kill(): Promise<void>;
  /**
   * SIGSTOP: the node stops answering but its connections stay open, as a frozen VM or a partition
   * that drops packets leaves them; `thaw()` (SIGCONT) lets it go on.
   */
  freeze(): void;
  thaw(): void;
}

interface Spawned extends RedisProcess {
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Spawns `redis-server args…` and resolves once `port` accepts connections (a TCP accept, so that
 * TLS-only servers count too). On failure the process is gone before the promise rejects.
 */
async function spawnRedis(port: number, args: string[], scheme: string): Promise<Spawned> {
  const bin = redisBinary();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-2000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (e: NodeJS.ErrnoException) => (spawnError = e));
  try {
    for (let i = 0; ; i++) {
      if (spawnError !== undefined) {
        throw new RedisStartError(
          'REDIS_SERVER_MISSING',
          `${bin} cannot be run (${spawnError.code ?? spawnError.message})`,
          'install it: apt-get install redis-server (npm test does this when it can)',
        );
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        const last = output.trim().split('\n').slice(-2).join(' | ');
        throw new RedisStartError(
          'REDIS_SERVER_EXITED',
          `redis-server exited with ${child.exitCode ?? child.signalCode} on port ${port}: ${last}`,
          'is the port taken, or is this redis-server built without TLS? Run it by hand to see',
        );
      }
      if (await listening(port)) break;
      if (i === 200) {
        throw new RedisStartError(
          'REDIS_SERVER_TIMEOUT',
          `redis-server did not listen on port ${port} within 5 s`,
          'the machine may be overloaded; run fewer test processes at once',
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  } catch (e) {
    await terminate(child, 'SIGKILL');
    throw e;
  }
  let alive: ChildProcess | undefined = child;
  const end = async (signal: NodeJS.Signals) => {
    const c = alive;
    alive = undefined;
    if (c !== undefined) await terminate(c, signal);
  };
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    get running() {
      return alive !== undefined;
    },
    kill: () => end('SIGKILL'),
    freeze: () => alive?.kill('SIGSTOP'),
    thaw: () => alive?.kill('SIGCONT'),
    stop: () => end('SIGKILL'),
  };
}

// No disk, and a replica's first sync at once (the default waits 5 s for more replicas).
const COMMON = [
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--repl-diskless-sync-delay',
  '0',
];

/** Stops everything started so far, deletes `dir`, and rethrows. */
async function undo(started: Spawned[], dir: string, e: unknown): Promise<never> {
  await Promise.allSettled(started.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
  throw e;
}

/** Polls `check` every 50 ms until it is true, for at most `ms`; throws `what` past that. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs one command on one node over a short-lived admin connection. */
export async function adminCommand(
  url: string,
  args: string[],
  tls?: { ca: string },
): Promise<string> {
  const client = createClient({
    url,
    socket: {
      connectTimeout: 5000,
      reconnectStrategy: false,
      ...(tls ? { tls: true as const, ca: tls.ca } : {}),
    },
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // Replies here are strings, or arrays of them (KEYS): joined with commas.
    return String((await client.sendCommand<string | string[]>(args)) ?? '');
  } finally {
    client.destroy();
  }
}

/** A Redis Cluster on loopback. */
export interface RedisCluster {
  /** Every node, masters first (`masters` of them), then one replica per master in the same order. */
  readonly nodes: readonly RedisProcess[];
  /** The masters at start. */
  readonly masters: readonly RedisProcess[];
  /** URLs of every node: the `cluster.nodes` option. */
  readonly urls: string[];
  /**
   * Kills `master` and resolves once its replica has been promoted and every surviving node reports
   * `cluster_state:ok`.
   */
  killMaster(master: RedisProcess): Promise<void>;
  /**
   * Freezes `master` ({@link RedisProcess.freeze}) and resolves once its replica has been promoted
   * and every other node reports `cluster_state:ok`; `thaw()` it before stopping to use the cluster.
   */
  freezeMaster(master: RedisProcess): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** @default 3 */
  masters?: number;
  /** Node failure detection time; a failover takes about twice this. @default 500 */
  nodeTimeoutMs?: number;
}

/**
 * Starts `masters` masters and one replica each, assigns the 16,384 slots evenly, joins them
 * (CLUSTER MEET), attaches the replicas (CLUSTER REPLICATE) and waits for `cluster_state:ok` on every
 * node and for each replica's link to its master — the state `redis-cli --cluster create` leaves.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 500;
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const started: Spawned[] = [];
  try {
    const ports = await distinctFreePorts(masters * 2);
    for (const port of ports) {
      started.push(
        await spawnRedis(
          port,
          [
            '--port',
            String(port),
            ...COMMON,
            '--dir',
            dir,
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            // A replica may take over whatever the age of its data: the tokens are a cache.
            '--cluster-replica-validity-factor',
            '0',
          ],
          'redis',
        ),
      );
    }
    const cmd = (node: Spawned, ...args: string[]) => adminCommand(node.url, args);
    const per = Math.ceil(16384 / masters);
    for (let i = 0; i < masters; i++) {
      const from = i * per;
      const to = Math.min(16383, from + per - 1);
      await cmd(started[i], 'CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
    }
    for (const node of started.slice(1)) {
      await cmd(started[0], 'CLUSTER', 'MEET', '127.0.0.1', String(node.port));
    }
    const ids = await Promise.all(started.map((n) => cmd(n, 'CLUSTER', 'MYID')));
    // By their ids: a node still in handshake is listed under a temporary one, and CLUSTER
    // REPLICATE of an id its replica does not know yet fails with "ERR Unknown node".
    await waitFor('every node to know every other', async () => {
      for (const node of started) {
        const known = await cmd(node, 'CLUSTER', 'NODES');
        if (known.includes('handshake') || ids.some((id) => !known.includes(id))) return false;
      }
      return true;
    });
    for (let i = 0; i < masters; i++) {
      await cmd(started[masters + i], 'CLUSTER', 'REPLICATE', ids[i]);
    }
    await waitFor('cluster_state:ok and every replica in sync', async () => {
      for (const node of started) {
        if (!(await cmd(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      }
      for (const replica of started.slice(masters)) {
        if (!(await cmd(replica, 'INFO', 'replication')).includes('master_link_status:up')) {
          return false;
        }
      }
      return true;
    });
    /** Waits for the replica of `master` (gone or frozen) to be promoted, the others to agree. */
    const promoted = (master: RedisProcess) => {
      const i = started.indexOf(master as Spawned);
      const replica = started[masters + i];
      return waitFor('the replica to be promoted', async () => {
        if (!(await cmd(replica, 'INFO', 'replication')).includes('role:master')) return false;
        for (const node of started.filter((n) => n.running && n !== master)) {
          if (!(await cmd(node, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
        }
        return true;
      });
    };
    return {
      nodes: started,
      masters: started.slice(0, masters),
      urls: started.map((n) => n.url),
      killMaster: async (master) => {
        await master.kill();
        await promoted(master);
      },
      freezeMaster: async (master) => {
        master.freeze();
        await promoted(master);
      },
      stop: async () => {
        await Promise.allSettled(started.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    return undo(started, dir, e);
  }
}

/** A master, its replica and the sentinels that watch them. */
export interface RedisSentinelSet {
  /** The `sentinel.masterName` option. */
  readonly masterName: string;
  /** URLs of the sentinels: the `sentinel.nodes` option. */
  readonly sentinelUrls: string[];
  readonly master: RedisProcess;
  readonly replica: RedisProcess;
  /** The data node the sentinels name as master now. */
  currentMasterPort(): Promise<number>;
  /** Kills the master and resolves once the sentinels name the replica as master. */
  killMaster(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startRedisSentinel}. */
export interface RedisSentinelOptions {
  /** @default 3 */
  sentinels?: number;
  /** Sentinel `down-after-milliseconds`. @default 500 */
  downAfterMs?: number;
}

/**
 * Starts a master, a replica of it and `sentinels` sentinels (quorum: a majority) monitoring it
 * as `mymaster`; resolves once every sentinel knows the replica and the other sentinels, so that
 * a failover can be agreed on.
 */
export async function startRedisSentinel(
  options: RedisSentinelOptions = {},
): Promise<RedisSentinelSet> {
  const count = options.sentinels ?? 3;
  const downAfterMs = options.downAfterMs ?? 500;
  const masterName = 'mymaster';
  const dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
  const started: Spawned[] = [];
  try {
    const [masterPort, replicaPort, ...sentinelPorts] = await distinctFreePorts(2 + count);
    const data = (port: number, extra: string[]) =>
      spawnRedis(port, ['--port', String(port), ...COMMON, '--dir', dir, ...extra], 'redis');
    const master = await data(masterPort, []);
    started.push(master);
    const replica = await data(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]);
    started.push(replica);
    const sentinels: Spawned[] = [];
    for (const port of sentinelPorts) {
      // Sentinel rewrites its config file: each needs its own, writable.
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} 5000`,
          '',
        ].join('\n'),
      );
      const s = await spawnRedis(port, [conf, '--sentinel'], 'redis');
      started.push(s);
      sentinels.push(s);
    }
    const ask = (s: Spawned, ...args: string[]) => adminCommand(s.url, args);
    await waitFor('the replica in sync and every sentinel to know the others', async () => {
      if (!(await ask(replica, 'INFO', 'replication')).includes('master_link_status:up')) {
        return false;
      }
      for (const s of sentinels) {
        const info = await ask(s, 'INFO', 'sentinel');
        if (!info.includes(`slaves=1,sentinels=${count}`)) return false;
      }
      return true;
    });
    const currentMasterPort = async () => {
      const client = createClient({ url: sentinels.find((s) => s.running)!.url });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const reply = await client.sendCommand<string[]>([
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          masterName,
        ]);
        return Number(reply[1]);
      } finally {
        client.destroy();
      }
    };
    return {
      masterName,
      sentinelUrls: sentinels.map((s) => s.url),
      master,
      replica,
      currentMasterPort,
      killMaster: async () => {
        await master.kill();
        await waitFor('the sentinels to promote the replica', async () => {
          if ((await currentMasterPort()) !== replica.port) return false;
          return (await ask(replica, 'INFO', 'replication')).includes('role:master');
        });
      },
      stop: async () => {
        await Promise.allSettled(started.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    return undo(started, dir, e);
  }
}

/** A TLS-only Redis with ACL users, its CA, and the user the library is meant to log in as. */
export interface SecureRedis extends RedisProcess {
  /** PEM of the CA that issued the server's certificate (the `ca` option). */
  readonly caPem: string;
  /** Runs a command as the admin user (for tests that change passwords). */
  admin(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** An ACL user of {@link startSecureRedis}: `rules` as in `ACL SETUSER`, e.g. `['~*', '+@all']`. */
export interface AclUser {
  name: string;
  password: string;
  rules: string[];
}

/**
 * Starts `redis-server` listening on TLS only (`--port 0 --tls-port P`, certificate issued for
 * 127.0.0.1 by a fresh CA), with the default user disabled and `users` defined, plus an admin
 * user for the test itself.
 */
export async function startSecureRedis(users: AclUser[]): Promise<SecureRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const started: Spawned[] = [];
  try {
    const ca = await createCa('Test Redis CA');
    const server = await issueCertificate({ subject: 'CN=127.0.0.1', issuer: ca, kind: 'server' });
    const files = {
      cert: join(dir, 'server.pem'),
      key: join(dir, 'server.key'),
      ca: join(dir, 'ca.pem'),
    };
    writeFileSync(files.cert, server.certificatePem);
    writeFileSync(files.key, server.privateKeyPem, { mode: 0o600 });
    writeFileSync(files.ca, ca.certificatePem);
    const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
    const acl = join(dir, 'users.acl');
    writeFileSync(
      acl,
      [
        'user default off',
        `user admin on >${adminPassword} ~* &* +@all`,
        ...users.map((u) => `user ${u.name} on >${u.password} ${u.rules.join(' ')}`),
        '',
      ].join('\n'),
    );
    const port = (await distinctFreePorts(1))[0];
    const node = await spawnRedis(
      port,
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        ...COMMON,
        '--dir',
        dir,
        '--tls-cert-file',
        files.cert,
        '--tls-key-file',
        files.key,
        '--tls-ca-cert-file',
        files.ca,
        // Server authentication only: the clients log in with ACL users.
        '--tls-auth-clients',
        'no',
        '--aclfile',
        acl,
      ],
      'rediss',
    );
    started.push(node);
    const adminUrl = `rediss://admin:${adminPassword}@127.0.0.1:${port}`;
    return {
      port,
      url: node.url,
      get running() {
        return node.running;
      },
      kill: () => node.kill(),
      freeze: () => node.freeze(),
      thaw: () => node.thaw(),
      caPem: ca.certificatePem,
      admin: (...args) => adminCommand(adminUrl, args, { ca: ca.certificatePem }),
      stop: async () => {
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    return undo(started, dir, e);
  }
}

/** `n` different free ports (one probe could hand out the same port twice). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
