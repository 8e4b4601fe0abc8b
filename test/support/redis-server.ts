import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

/** A throwaway `redis-server` on a loopback port, no persistence: for tests and the bench. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** Kills the server at once (SIGKILL): an outage, as the clients see it. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing was persisted). */
  restart(): Promise<void>;
  /** Stops it (SIGTERM); safe to call twice. */
  stop(): Promise<void>;
  /**
   * Freezes it (SIGSTOP): its sockets stay open and nothing answers — a Redis that hangs (a frozen
   * VM, a partition that drops packets), as the clients see it. `thaw` (SIGCONT) ends it; so do
   * `kill`, `restart` and `stop`.
   */
  freeze(): void;
  thaw(): void;
}

/** Why a test Redis could not start. */
export type RedisStartErrorCode =
  'REDIS_SERVER_MISSING' | 'REDIS_SERVER_EXITED' | 'REDIS_SERVER_TIMEOUT';

/** `startRedisServer` failed; nothing it started is left running. */
export class RedisStartError extends Error {
  constructor(
    /** Stable code of the failure. */
    readonly code: RedisStartErrorCode,
    message: string,
    /** What to do about it. */
    readonly hint: string,
  ) {
    super(`${message} — ${hint}`);
    this.name = 'RedisStartError';
  }
}

/**
 * The program started as Redis: `REDIS_SERVER_BIN` when set (a build elsewhere, or a path that
 * does not exist to exercise the missing-Redis path), else `redis-server` from the PATH.
 */
export function redisBinary(): string {
  return process.env.REDIS_SERVER_BIN || 'redis-server';
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Sends one RESP command and resolves to its (single-line) reply. */
function send(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const resp = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.once('error', reject);
    socket.on('connect', () => socket.write(resp));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.endsWith('\r\n')) socket.end();
    });
    socket.on('close', () => resolve(reply));
  });
}

/** Signals `child` and resolves once it has exited (at once if it never ran or already exited). */
export function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * Spawns Redis on `port` and resolves once it answers PING. On any failure the process is gone
 * before the promise rejects: a half-started Redis would keep the test runner alive.
 */
async function launch(port: number): Promise<ChildProcess> {
  const bin = redisBinary();
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Redis logs to stdout; the tail names the cause when it exits early (e.g. the port is taken).
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-2000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // A missing binary is an 'error' event, never an exit: without a listener it is an uncaught
  // exception, and the wait below would poll a process that never existed.
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (e: NodeJS.ErrnoException) => (spawnError = e));
  try {
    for (let i = 0; i < 200; i++) {
      if (spawnError !== undefined) throw missing(bin, spawnError);
      if (child.exitCode !== null || child.signalCode !== null) {
        const last = output.trim().split('\n').slice(-2).join(' | ');
        throw new RedisStartError(
          'REDIS_SERVER_EXITED',
          `redis-server exited with ${child.exitCode ?? child.signalCode} on port ${port}: ${last}`,
          'is the port taken, or the redis-server build broken? Run it by hand to see',
        );
      }
      try {
        if ((await send(port, ['PING'])).startsWith('+PONG')) return child;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new RedisStartError(
      'REDIS_SERVER_TIMEOUT',
      `redis-server did not answer PING on port ${port} within 5 s`,
      'the machine may be overloaded; run fewer test processes at once',
    );
  } catch (e) {
    await terminate(child, 'SIGKILL');
    throw e;
  }
}

function missing(bin: string, e: NodeJS.ErrnoException): RedisStartError {
  const where =
    bin === 'redis-server' ? 'is not on the PATH' : `(REDIS_SERVER_BIN=${bin}) cannot be run`;
  return new RedisStartError(
    'REDIS_SERVER_MISSING',
    `redis-server ${where} (${e.code ?? e.message})`,
    'install it: apt-get install redis-server (npm test does this when it can)',
  );
}

/**
 * Starts `redis-server` on a free loopback port (`--port 0` would mean "no TCP" to Redis).
 * Rejects with a {@link RedisStartError} naming the cause, having stopped whatever it started.
 */
export async function startRedisServer(): Promise<RedisServer> {
  let port = 0;
  let child: ChildProcess | undefined;
  // Another process can take the free port between the probe and Redis binding it: try anew.
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (e) {
      if (!(e instanceof RedisStartError) || e.code !== 'REDIS_SERVER_EXITED' || attempt === 3) {
        throw e;
      }
    }
  }
  const end = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    // A frozen process would hold SIGTERM until continued.
    c?.kill('SIGCONT');
    if (c !== undefined) await terminate(c, signal);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      child = await launch(port);
    },
    stop: () => end('SIGTERM'),
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
  };
}
