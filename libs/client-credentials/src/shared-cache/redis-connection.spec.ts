import { EventEmitter } from 'node:events';
import { ConfigurationError } from '../errors/client-credentials.errors';
import type { RedisClientLike } from '../shared-cache.options';
import { QUIET_MS } from './command-circuit';
import { RedisConnection, UNAVAILABLE } from './redis-connection';
import { ErrorReporter, newSharedCacheStats, type SharedCacheStats } from './shared-cache-stats';

const OP_TIMEOUT = 500;

/** A node-redis client as the connection sees it: events, open/ready flags, connect() scripted. */
class FakeClient extends EventEmitter implements RedisClientLike {
  isOpen = false;
  isReady = false;
  connects = 0;
  /** What connect() does; by default it opens and becomes ready at once. */
  onConnect: () => Promise<unknown> = async () => {
    this.isOpen = true;
    this.isReady = true;
    this.emit('ready');
  };

  connect(): Promise<unknown> {
    this.connects++;
    return this.onConnect();
  }

  destroy(): void {
    this.isOpen = false;
    this.isReady = false;
  }

  get = jest.fn(async (): Promise<string | null> => null);
  set = jest.fn(async (): Promise<string | null> => 'OK');
  del = jest.fn(async () => 0);
  eval = jest.fn(async (): Promise<unknown> => 0);
}

/** A cluster: masters, and the slot map node-redis keeps in `_slots` (re-read by `rediscover`). */
class FakeCluster extends FakeClient {
  /** Empty until the slot map is read, as node-redis's. */
  masters: { client?: { isReady: boolean } }[] = [];
  readonly _slots = { rediscover: jest.fn(async () => undefined) };

  constructor() {
    super();
    // A cluster has no isReady: it is open, then maps its slots ('connect').
    this.onConnect = async () => {
      this.isOpen = true;
      this.masters = [{ client: { isReady: true } }];
      this.emit('connect');
    };
  }
}

/** Lets every pending promise callback run (setImmediate is not faked). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

describe('RedisConnection', () => {
  let stats: SharedCacheStats;
  let warnings: string[];
  let logs: string[];
  let connection: RedisConnection;

  function connect(client: FakeClient, owned = true): RedisConnection {
    stats = newSharedCacheStats();
    const reporter = new ErrorReporter(
      stats,
      {
        log: (m: string) => logs.push(m),
        warn: (m: string) => warnings.push(m),
        error() {},
      },
      0,
    );
    connection = new RedisConnection(
      owned ? { owned: true, create: () => client } : { owned: false, client },
      { login: 'password', trust: 'ca' },
      OP_TIMEOUT,
      stats,
      reporter,
    );
    return connection;
  }

  beforeEach(() => {
    jest.useFakeTimers({
      now: 1_700_000_000_000,
      doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'],
    });
    jest.spyOn(Math, 'random').mockReturnValue(0);
    warnings = [];
    logs = [];
  });

  afterEach(async () => {
    await connection.close();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  describe('run', () => {
    it('sends nothing while not ready: UNAVAILABLE at once, counted', async () => {
      const c = connect(new FakeClient());
      const op = jest.fn(async () => 'value');

      expect(await c.run('reading', op)).toBe(UNAVAILABLE);

      expect(op).not.toHaveBeenCalled();
      expect(stats.errors).toBe(1);
    });

    it('answers what the command answered', async () => {
      const client = new FakeClient();
      const c = connect(client);
      expect(await c.connect(1000)).toBe(true);

      expect(await c.run('reading', async () => 'value')).toBe('value');
      expect(stats).toMatchObject({ connected: true, errors: 0 });
    });

    it('gives up a command slower than operationTimeoutMs, counted as a timeout', async () => {
      const c = connect(new FakeClient());
      await c.connect(1000);
      let outcome: unknown = 'pending';

      void c.run('reading', () => new Promise(() => undefined)).then((v) => (outcome = v));
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT - 1);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(1);

      expect(outcome).toBe(UNAVAILABLE);
      expect(stats).toMatchObject({ timeouts: 1, errors: 1 });
      expect(warnings[0]).toContain(`reading took longer than ${OP_TIMEOUT} ms`);
      // Its timer is gone with it; a command that answers in time leaves none either.
      await c.run('reading', async () => 'fast');
      expect(jest.getTimerCount()).toBe(0);
    });

    it('never throws: a command that fails, or throws at once, is UNAVAILABLE', async () => {
      const c = connect(new FakeClient());
      await c.connect(1000);

      expect(await c.run('writing', () => Promise.reject(new Error('READONLY')))).toBe(UNAVAILABLE);
      expect(
        await c.run('writing', () => {
          throw new Error('The client is closed');
        }),
      ).toBe(UNAVAILABLE);
      expect(stats.errors).toBe(2);
    });

    it('sends a failed command once more on a cluster, after its slot map was re-read', async () => {
      const cluster = new FakeCluster();
      const c = connect(cluster);
      expect(await c.connect(1000)).toBe(true);
      let calls = 0;

      const answer = await c.run('reading', async () => {
        if (++calls === 1) throw new Error('connect ECONNREFUSED (the old master)');
        return 'from the promoted replica';
      });

      expect(answer).toBe('from the promoted replica');
      expect(calls).toBe(2);
      expect(cluster._slots.rediscover).toHaveBeenCalledTimes(1);
    });

    it('after two timeouts in a row sends nothing to a Redis that hangs (socket open) until one probe answers, then announces it usable', async () => {
      const c = connect(new FakeClient());
      await c.connect(1000);
      let recoveries = 0;
      c.onRecovered(() => recoveries++);
      let hangs = true;
      const sent = jest.fn(() => (hangs ? new Promise<string>(() => undefined) : 'answered'));
      const run = () => c.run('reading', async () => sent());

      // One timeout is a suspicion (a latency spike looks the same); a command sent after it
      // that times out too is a Redis that does not answer.
      const first = run();
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);
      expect(await first).toBe(UNAVAILABLE);
      expect(stats).toMatchObject({ timeouts: 1, connected: true });
      const second = run();
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);
      expect(await second).toBe(UNAVAILABLE);
      expect(stats).toMatchObject({ timeouts: 2, connected: false });
      // Quiet: UNAVAILABLE at once, nothing sent.
      expect(await run()).toBe(UNAVAILABLE);
      expect(await run()).toBe(UNAVAILABLE);
      expect(sent).toHaveBeenCalledTimes(2);
      expect(stats.commands).toBe(2);

      // Quiet over: one probe, the others still not sent while it runs; it times out too.
      await jest.advanceTimersByTimeAsync(QUIET_MS);
      const probe = run();
      expect(await run()).toBe(UNAVAILABLE);
      expect(sent).toHaveBeenCalledTimes(3);
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);
      expect(await probe).toBe(UNAVAILABLE);
      expect(await run()).toBe(UNAVAILABLE);
      expect(stats).toMatchObject({ commands: 3, timeouts: 3, connected: false });

      // Redis answers again: the next probe says so, and commands go to it.
      hangs = false;
      await jest.advanceTimersByTimeAsync(QUIET_MS);
      expect(await run()).toBe('answered');
      expect(recoveries).toBe(1);
      expect(stats.connected).toBe(true);
      expect(await run()).toBe('answered');
      expect(sent).toHaveBeenCalledTimes(5);
    });

    it('keeps sending after commands in flight together time out (one latency spike), and after an answer', async () => {
      const c = connect(new FakeClient());
      await c.connect(1000);
      let hangs = true;
      const sent = jest.fn(() => (hangs ? new Promise<string>(() => undefined) : 'answered'));
      const run = () => c.run('reading', async () => sent());

      const together = [run(), run(), run()];
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);
      expect(await Promise.all(together)).toEqual([UNAVAILABLE, UNAVAILABLE, UNAVAILABLE]);
      expect(stats).toMatchObject({ timeouts: 3, connected: true });
      // The spike is over: the next command is sent and answered, and the suspicion forgotten.
      hangs = false;
      expect(await run()).toBe('answered');
      hangs = true;
      const later = run();
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);
      expect(await later).toBe(UNAVAILABLE);
      expect(stats.connected).toBe(true);
      expect(sent).toHaveBeenCalledTimes(5);
    });

    it('does not send a timed-out command again, even on a cluster', async () => {
      const cluster = new FakeCluster();
      const c = connect(cluster);
      await c.connect(1000);
      let calls = 0;

      const answer = c.run('reading', () => {
        calls++;
        return new Promise(() => undefined);
      });
      await jest.advanceTimersByTimeAsync(OP_TIMEOUT);

      expect(await answer).toBe(UNAVAILABLE);
      expect(calls).toBe(1);
    });
  });

  describe('connect', () => {
    it('waits for the client to be ready, no longer than asked', async () => {
      const client = new FakeClient();
      client.onConnect = async () => {
        client.isOpen = true;
      };
      const c = connect(client);

      let ready: boolean | undefined;
      void c.connect(1000).then((r) => (ready = r));
      await jest.advanceTimersByTimeAsync(300);
      expect(ready).toBeUndefined();
      client.isReady = true;
      client.emit('ready');
      await flush();

      expect(ready).toBe(true);
      expect(stats.connected).toBe(true);
    });

    it('answers false at the bound when Redis is down, and keeps the client trying', async () => {
      const client = new FakeClient();
      client.onConnect = async () => {
        client.isOpen = true;
        client.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
      };
      const c = connect(client);

      let ready: boolean | undefined;
      void c.connect(1000).then((r) => (ready = r));
      await jest.advanceTimersByTimeAsync(999);
      expect(ready).toBeUndefined();
      await jest.advanceTimersByTimeAsync(1);

      expect(ready).toBe(false);
      expect(stats.connected).toBe(false);
      // The client (node-redis) reconnects by itself: once back, commands go through again.
      client.isReady = true;
      client.emit('ready');
      expect(await c.run('reading', async () => 'value')).toBe('value');
      expect(logs).toEqual(['Shared token cache: Redis connection is back.']);
    });

    it('fails at once with a ConfigurationError naming the option when Redis refuses the login', async () => {
      const client = new FakeClient();
      client.onConnect = async () => {
        client.isOpen = true;
        client.emit('error', new Error('WRONGPASS invalid username-password pair'));
      };
      const c = connect(client);

      let error: unknown;
      c.connect(60_000).catch((e: unknown) => (error = e));
      await flush();

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).problems[0]).toMatch(/^cache\.shared\.password: /);
      // Closed: the client it made is destroyed.
      expect(client.isOpen).toBe(false);
    });

    it('tries a cluster whose connect failed again after a backoff', async () => {
      const cluster = new FakeCluster();
      const connected = cluster.onConnect;
      cluster.onConnect = () => Promise.reject(new Error('None of the root nodes is available'));
      const c = connect(cluster);

      void c.connect(10_000);
      await flush();
      expect(cluster.connects).toBe(1);
      // 100 ms, then 200 ms (jitter at its lowest).
      await jest.advanceTimersByTimeAsync(99);
      expect(cluster.connects).toBe(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(cluster.connects).toBe(2);
      cluster.onConnect = connected;
      await jest.advanceTimersByTimeAsync(200);

      expect(cluster.connects).toBe(3);
      expect(c.ready).toBe(true);
    });

    it('uses an app’s cluster client connected before it was handed over (its connect event long past)', async () => {
      const cluster = new FakeCluster();
      await cluster.connect();
      const c = connect(cluster, false);

      expect(await c.connect(1000)).toBe(true);
      expect(await c.run('reading', async () => 'value')).toBe('value');
      expect(cluster.connects).toBe(1);
    });

    it('counts a cluster ready only while one of its masters has a ready node client', async () => {
      const cluster = new FakeCluster();
      cluster.isOpen = true;
      cluster.masters = [{ client: { isReady: false } }, {}];
      const c = connect(cluster, false);

      let ready: boolean | undefined;
      void c.connect(1000).then((r) => (ready = r));
      await flush();
      expect(ready).toBeUndefined();
      cluster.masters[1] = { client: { isReady: true } };
      cluster.emit('node-ready');
      await flush();
      expect(ready).toBe(true);

      cluster.masters = [];
      expect(await c.run('reading', async () => 'value')).toBe(UNAVAILABLE);
    });

    it('stops trying once closed', async () => {
      const cluster = new FakeCluster();
      cluster.onConnect = () => Promise.reject(new Error('None of the root nodes is available'));
      const c = connect(cluster);
      void c.connect(10_000);
      await flush();

      await c.close();
      await jest.advanceTimersByTimeAsync(10_000);

      expect(cluster.connects).toBe(1);
      expect(jest.getTimerCount()).toBe(0);
    });
  });

  it('leaves an app’s own client open at close, and stops listening to it', async () => {
    const client = new FakeClient();
    const c = connect(client, false);
    await c.connect(1000);

    await c.close();

    expect(client.isOpen).toBe(true);
    expect(client.listenerCount('error')).toBe(0);
    expect(client.listenerCount('ready')).toBe(0);
  });

  describe('recoveries', () => {
    it('announces Redis usable again when a command succeeds after failures, at most every 250 ms', async () => {
      const c = connect(new FakeClient());
      await c.connect(1000);
      let recoveries = 0;
      c.onRecovered(() => recoveries++);
      const fail = () => c.run('writing', () => Promise.reject(new Error('CLUSTERDOWN')));
      const succeed = () => c.run('reading', async () => 'ok');

      await succeed();
      expect(recoveries).toBe(0);
      await fail();
      await succeed();
      await succeed();
      expect(recoveries).toBe(1);
      // A shard failing over while others answer: not a recovery per success.
      await fail();
      await succeed();
      expect(recoveries).toBe(1);
      await jest.advanceTimersByTimeAsync(250);
      await fail();
      await succeed();
      expect(recoveries).toBe(2);
    });

    it('announces it when the connection is ready again after an outage', async () => {
      const client = new FakeClient();
      const c = connect(client);
      await c.connect(1000);
      let recoveries = 0;
      c.onRecovered(() => recoveries++);

      client.isReady = false;
      client.emit('error', new Error('Socket closed unexpectedly'));
      expect(await c.run('reading', async () => 'x')).toBe(UNAVAILABLE);
      client.isReady = true;
      client.emit('ready');

      expect(recoveries).toBe(1);
    });
  });

  describe('Sentinel master switch', () => {
    /** A sentinel client, at `port` (its master). */
    class FakeSentinel extends FakeClient {
      constructor(readonly port: number) {
        super();
      }
      getMasterNode() {
        return { host: '127.0.0.1', port: this.port };
      }
    }

    it('follows the announcement with a fresh client at once, in place of the one waiting for its own lookup', async () => {
      const clients: FakeSentinel[] = [];
      let announce: (address: string) => void = () => undefined;
      let unwatched = false;
      let recoveries = 0;
      let port = 7000;
      stats = newSharedCacheStats();
      connection = new RedisConnection(
        {
          owned: true,
          create: () => {
            const client = new FakeSentinel(port);
            clients.push(client);
            return client;
          },
          watch: (onSwitch) => {
            announce = onSwitch;
            return () => (unwatched = true);
          },
        },
        { login: 'password', trust: 'ca' },
        OP_TIMEOUT,
        stats,
        new ErrorReporter(stats, { log() {}, warn() {}, error() {} }, 0),
      );
      await connection.connect(1000);
      connection.onRecovered(() => recoveries++);
      // The master died: commands fail until the switch.
      clients[0].isReady = false;
      expect(await connection.run('reading', async () => 'x')).toBe(UNAVAILABLE);

      // Announced twice (every sentinel says it): followed once.
      port = 7001;
      announce('127.0.0.1:7001');
      announce('127.0.0.1:7001');
      await flush();

      expect(clients).toHaveLength(2);
      expect(connection.client).toBe(clients[1]);
      expect(clients[0].isOpen).toBe(false);
      expect(stats.masterSwitches).toBe(1);
      expect(recoveries).toBe(1);
      expect(await connection.run('reading', async () => 'at the new master')).toBe(
        'at the new master',
      );
      // Announced where the client is already: nothing to do.
      announce('127.0.0.1:7001');
      await flush();
      expect(clients).toHaveLength(2);

      await connection.close();
      expect(unwatched).toBe(true);
      expect(clients[1].isOpen).toBe(false);
    });
    it('closes the client a switch is opening when the connection closes meanwhile, and does not take it up', async () => {
      // The first client connects at once; the one at the new master is still asking the
      // sentinels at close (its connect resolves only when the test says so).
      const first = new FakeSentinel(7000);
      const opening = new FakeSentinel(7001);
      let connected: () => void = () => undefined;
      opening.onConnect = () => {
        opening.isOpen = true;
        return new Promise<void>((resolve) => (connected = resolve));
      };
      let announce: (address: string) => void = () => undefined;
      stats = newSharedCacheStats();
      connection = new RedisConnection(
        {
          owned: true,
          create: () => (first.connects === 0 ? first : opening),
          watch: (onSwitch) => {
            announce = onSwitch;
            return () => undefined;
          },
        },
        { login: 'password', trust: 'ca' },
        OP_TIMEOUT,
        stats,
        new ErrorReporter(stats, { log() {}, warn() {}, error() {} }, 0),
      );
      await connection.connect(1000);
      announce('127.0.0.1:7001');
      await flush();
      expect(opening.connects).toBe(1);

      await connection.close();

      expect(opening.isOpen).toBe(false);
      // Its connect ends later (node-redis's loop ends within a round once destroyed): not used.
      connected();
      await flush();
      expect(stats.masterSwitches).toBe(0);
      expect(connection.client).toBe(first);
    });
  });
});
