import { execFile, spawn, type ChildProcess } from 'node:child_process';

/** One command Redis executed, as `MONITOR` showed it. */
export interface RedisOp {
  /** Epoch ms, Redis's clock (the same machine's). */
  at: number;
  /** The client's address (`127.0.0.1:PORT`): one per connection of a daemon. */
  client: string;
  command: string;
  /** Key of the command (for EVAL, the first key). */
  key?: string;
  /** `PX` of a SET, when given. */
  px?: number;
  /** `NX` of a SET: a lock attempt. */
  nx?: boolean;
  /** The value of a lock attempt: the would-be holder's random id (never a token's value). */
  owner?: string;
}

// 1732460000.123456 [0 127.0.0.1:54321] "SET" "key" "value" "NX" "PX" "15000"
const LINE = /^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$/;

/**
 * Records every command a Redis executes (`redis-cli MONITOR`), and which process each client
 * connection belongs to (`ss -tnp`): what each replica read, wrote and locked, and when. Values
 * are not kept (they are encrypted tokens anyway). Call {@link attach} again after a restart.
 */
export class RedisMonitor {
  readonly ops: RedisOp[] = [];
  /** Client address → pid of the process that owns the connection. */
  readonly owners = new Map<string, number>();
  private child?: ChildProcess;

  constructor(private readonly port: number) {}

  /** Starts `MONITOR` on the current server; resolves once it is attached. */
  attach(): Promise<void> {
    this.detach();
    const child = spawn('redis-cli', ['-p', String(this.port), 'monitor'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child = child;
    let buffer = '';
    return new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdout.on('data', (d: Buffer) => {
        buffer += d.toString();
        const parts = buffer.split('\n');
        buffer = parts.pop()!;
        for (const line of parts) {
          if (line.startsWith('OK')) resolve();
          else this.parse(line);
        }
      });
    });
  }

  /** The current value of a key (a lock's holder id), through `redis-cli`. */
  get(key: string): Promise<string> {
    return new Promise((resolve) => {
      execFile('redis-cli', ['-p', String(this.port), '--raw', 'GET', key], (err, out) =>
        resolve(err === null ? out.trim() : ''),
      );
    });
  }

  /** Stops `MONITOR` (a killed Redis ends it anyway). */
  detach(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  private parse(line: string): void {
    const m = LINE.exec(line);
    if (m === null) return;
    const args = [...m[3].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1]);
    const command = (args[0] ?? '').toUpperCase();
    const upper = args.map((a) => a.toUpperCase());
    const px = upper.indexOf('PX');
    const op: RedisOp = {
      at: Math.round(Number(m[1]) * 1000),
      client: m[2],
      command,
      key: command === 'EVAL' || command === 'EVALSHA' ? args[3] : args[1],
      px: command === 'SET' && px > 0 ? Number(args[px + 1]) : undefined,
      nx: command === 'SET' && upper.includes('NX') ? true : undefined,
    };
    if (op.nx && op.key?.includes(':lock:')) op.owner = args[2];
    this.ops.push(op);
    if (!this.owners.has(op.client)) {
      this.owners.set(op.client, 0);
      this.lookUp(op.client);
    }
  }

  /** Which pid holds the other end of this client connection (0 until known). */
  private lookUp(client: string): void {
    const port = client.split(':').pop();
    execFile('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], (err, out) => {
      const pid = /pid=(\d+)/.exec(out ?? '');
      if (err === null && pid !== null) this.owners.set(client, Number(pid[1]));
    });
  }
}
