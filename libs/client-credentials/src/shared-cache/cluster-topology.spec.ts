import { createCluster } from '@keyv/redis';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { RedisClientLike } from '../shared-cache.options';
import { ClusterTopology, slotMapReader } from './cluster-topology';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import { ErrorReporter, newSharedCacheStats } from './shared-cache-stats';

/**
 * A node that speaks just enough RESP for node-redis's cluster client: every slot is served by the
 * node `owner()` names (`CLUSTER SLOTS`), anything else is `+OK`. No Redis needed: this pins what
 * the library relies on in node-redis itself, so that an upgrade that changes it fails here.
 */
interface FakeNode {
  readonly port: number;
  /** Port named as the owner of every slot. */
  owner: () => number;
  /** Ports named as owners of the lower and the upper half of the slots, when set. */
  halves?: () => [number, number];
  /** Accepts connections and reads commands, answers none (a frozen process, a partition). */
  frozen: boolean;
  /** Answers everything but `CLUSTER SLOTS` (a node that froze right after a PING). */
  slotsUnanswered: boolean;
  /** `CLUSTER SLOTS` asked so far. */
  slotQueries: number;
  close(): Promise<void>;
}

async function fakeNode(): Promise<FakeNode> {
  const sockets = new Set<Socket>();
  const node = {
    owner: () => 0,
    slotQueries: 0,
    frozen: false,
    slotsUnanswered: false,
  } as FakeNode & { port: number };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      // Commands arrive as RESP arrays of bulk strings: `*N\r\n($len\r\narg\r\n)×N`.
      for (;;) {
        const parsed = parseCommand(buffered);
        if (parsed === undefined) return;
        buffered = buffered.slice(parsed.length);
        const name = parsed.args.slice(0, 2).join(' ').toUpperCase();
        if (node.frozen) continue;
        if (name === 'CLUSTER SLOTS') {
          node.slotQueries++;
          if (node.slotsUnanswered) continue;
          const shard = (from: number, to: number, port: number) =>
            `*3\r\n:${from}\r\n:${to}\r\n*3\r\n$9\r\n127.0.0.1\r\n:${port}\r\n$2\r\nid\r\n`;
          const halves = node.halves?.();
          socket.write(
            halves === undefined
              ? `*1\r\n${shard(0, 16383, node.owner())}`
              : `*2\r\n${shard(0, 8191, halves[0])}${shard(8192, 16383, halves[1])}`,
          );
        } else {
          socket.write('+OK\r\n');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  node.port = (server.address() as AddressInfo).port;
  node.owner = () => node.port;
  node.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return node;
}

function parseCommand(text: string): { args: string[]; length: number } | undefined {
  const header = /^\*(\d+)\r\n/.exec(text);
  if (header === null) return undefined;
  let at = header[0].length;
  const args: string[] = [];
  for (let i = 0; i < Number(header[1]); i++) {
    const bulk = /^\$(\d+)\r\n/.exec(text.slice(at));
    if (bulk === null) return undefined;
    const start = at + bulk[0].length;
    const end = start + Number(bulk[1]);
    if (text.length < end + 2) return undefined;
    args.push(text.slice(start, end));
    at = end + 2;
  }
  return { args, length: at };
}

const quiet = { log() {}, warn: jest.fn(), error() {} };

/** The bound of one re-read here (`slotMapReadBoundMs` of the default operationTimeoutMs). */
const BOUND = 1000;

/**
 * A real node-redis cluster client, connected through `roots`: with a `socketTimeout` on its root
 * nodes, as the library's own cluster clients have (redis-clients.ts).
 */
async function connectCluster(roots: FakeNode[]) {
  const cluster = createCluster({
    rootNodes: roots.map((n) => ({
      url: `redis://127.0.0.1:${n.port}`,
      socket: { socketTimeout: BOUND },
    })),
    defaults: { socket: { reconnectStrategy: false } },
  });
  cluster.on('error', () => undefined);
  await cluster.connect();
  return cluster;
}

describe('ClusterTopology: the slot map re-read node-redis does not document', () => {
  const nodes: FakeNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    quiet.warn.mockReset();
  });

  it("re-reads a real node-redis cluster's slot map: its slots then go to the node the cluster names now", async () => {
    const [a, b] = [await fakeNode(), await fakeNode()];
    nodes.push(a, b);
    const cluster = createCluster({
      rootNodes: [{ url: `redis://127.0.0.1:${a.port}` }],
      defaults: { socket: { reconnectStrategy: false } },
    });
    cluster.on('error', () => undefined);
    await cluster.connect();
    try {
      expect(cluster.slots[0].master.port).toBe(a.port);
      expect(slotMapReader(cluster as unknown as RedisClientLike)).toBeDefined();

      // A failover: the cluster now names b as the owner of every slot.
      a.owner = () => b.port;
      const asked = a.slotQueries;
      const stats = newSharedCacheStats();
      await new ClusterTopology(new ErrorReporter(stats, quiet, 1000), BOUND).refresh(cluster);

      expect(a.slotQueries).toBe(asked + 1);
      // Read through node-redis's public getters: the map it routes commands by.
      expect(cluster.slots[0].master.port).toBe(b.port);
      expect(cluster.slots[16383].master.port).toBe(b.port);
      expect(cluster.masters.map((m) => m.port)).toEqual([b.port]);
      expect(stats.errors).toBe(0);
    } finally {
      cluster.destroy();
    }
  });

  it('starts the re-read with a node that answers, not a master that is frozen (its connection open, its client still ready)', async () => {
    const [a, b] = [await fakeNode(), await fakeNode()];
    nodes.push(a, b);
    // Two masters, a and b, each with half of the slots.
    a.halves = b.halves = () => [a.port, b.port];
    const cluster = await connectCluster([a]);
    try {
      expect(cluster.masters.map((m) => m.port)).toEqual([a.port, b.port]);
      // a freezes, and b takes its slots.
      a.frozen = true;
      b.halves = () => [b.port, b.port];
      const asked = a.slotQueries;
      const stats = newSharedCacheStats();

      await new ClusterTopology(new ErrorReporter(stats, quiet, 0), BOUND).refresh(cluster);

      expect(cluster.slots[0].master.port).toBe(b.port);
      expect(cluster.masters.map((m) => m.port)).toEqual([b.port]);
      expect(a.slotQueries).toBe(asked);
    } finally {
      cluster.destroy();
    }
  });

  it('gives up a re-read whose node stops answering after its PING, and the next one goes on (node-redis’s own re-read is not held)', async () => {
    const [a, b] = [await fakeNode(), await fakeNode()];
    nodes.push(a, b);
    a.owner = () => a.port;
    b.owner = () => a.port;
    const cluster = await connectCluster([a, b]);
    try {
      expect(cluster.masters.map((m) => m.port)).toEqual([a.port]);
      a.slotsUnanswered = true;
      b.owner = () => b.port;
      const stats = newSharedCacheStats();
      const topology = new ClusterTopology(new ErrorReporter(stats, quiet, 0), BOUND);

      // Each re-read asks a (the one master, answering PINGs) first; the slot map reaches b
      // through the root nodes once a's connection for the re-read times out.
      let rereads = 0;
      while (cluster.slots[0].master.port !== b.port && rereads < 4) {
        await topology.refresh(cluster);
        rereads++;
      }

      expect(cluster.slots[0].master.port).toBe(b.port);
      expect(rereads).toBeGreaterThan(1);
    } finally {
      cluster.destroy();
    }
  }, 10_000);

  it('says once, without failing, when a cluster client has no slot map re-read it knows', async () => {
    const stats = newSharedCacheStats();
    const topology = new ClusterTopology(new ErrorReporter(stats, quiet, 1000), BOUND);
    const foreign = { masters: [{ client: { isReady: true } }] } as unknown as RedisClientLike;

    await topology.refresh(foreign);
    await topology.refresh(foreign);

    expect(quiet.warn).toHaveBeenCalledTimes(1);
    expect(quiet.warn.mock.calls[0][0]).toContain('no slot map re-read');
    expect(stats.errors).toBe(0);
  });
});

describe('RedisConnection over a 1-master cluster whose master dies', () => {
  it('finds the promoted replica through the root nodes though no master is left to send a command to', async () => {
    const [a, b] = [await fakeNode(), await fakeNode()];
    a.owner = () => a.port;
    b.owner = () => a.port;
    const cluster = createCluster({
      rootNodes: [a, b].map((n) => ({ url: `redis://127.0.0.1:${n.port}` })),
      defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } },
    });
    cluster.on('error', () => undefined);
    const stats = newSharedCacheStats();
    const connection = new RedisConnection(
      { owned: true, create: () => cluster },
      { login: 'password', trust: 'ca' },
      200,
      stats,
      new ErrorReporter(stats, quiet, 0),
    );
    expect(await connection.connect(3000)).toBe(true);
    try {
      expect(await connection.run('get', () => cluster.get('k'))).toBe('OK');
      // b is promoted; a is gone. The cluster's only master client is not ready: no command is
      // sent, none fails — before the fix nothing re-read the slot map, for good.
      b.owner = () => b.port;
      await a.close();
      const answers: unknown[] = [];
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 300));
        answers.push(await connection.run('get', () => cluster.get('k')));
      }
      expect(answers.filter((x) => x !== UNAVAILABLE).length).toBeGreaterThan(0);
      expect(answers.at(-1)).toBe('OK');
      expect(b.slotQueries).toBeGreaterThan(0);
    } finally {
      await connection.close();
      await b.close();
    }
  });
});
