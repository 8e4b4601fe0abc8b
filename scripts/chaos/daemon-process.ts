import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** One worker run as the daemon logged it. */
export interface Run {
  at: number;
  daemon: number;
  credential: string;
  ok: boolean;
  /** Error code of a failed run (`ClientCredentialsError.code`, or `api-<status>`). */
  code?: string;
}

const ROOT = join(__dirname, '..', '..');
const OK = /: GET \S+ -> 200 .*\(credential (\S+?)[,)]/;
const FAILED = /run failed: (\S+)(?: AADSTS\d+)? \(credential (\S+?)[,)]/;
const API_FAILED = /run failed: \S+: GET \S+ -> (\d+) .*\(credential (\S+?)[,)]/;

/**
 * The daemon (apps/daemon/src/main.ts, compiled on the fly) in a child process, from a config
 * file and environment: the same code `npm start` runs. Its log lines become {@link Run}s.
 */
export class DaemonProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** Lines of stderr and unparsed failures, for the report of a crash. */
  readonly errors: string[] = [];

  constructor(
    readonly index: number,
    private readonly configFile: string,
    private readonly env: Record<string, string>,
    private readonly runs: Run[],
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts it; resolves once it has logged its health URL (it is up). */
  start(): Promise<void> {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', 'apps/daemon/src/main.ts', '--config', this.configFile],
      {
        cwd: ROOT,
        env: { ...process.env, ...this.env, NO_COLOR: '1', NODE_NO_WARNINGS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const lines = (onLine: (line: string) => void) => {
      let buffer = '';
      return (d: Buffer) => {
        buffer += d.toString();
        const parts = buffer.split('\n');
        buffer = parts.pop()!;
        parts.forEach(onLine);
      };
    };
    return new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`daemon ${this.index} exited (${code ?? signal}) before it was up`)),
      );
      // Nest writes errors and warnings to stderr, the rest to stdout; anything else on stderr
      // (a crash, a stack) is unexpected.
      child.stderr.on(
        'data',
        lines((line) => this.parse(line) || /^\[Nest\]|^\s*$/.test(line) || this.errors.push(line)),
      );
      child.stdout.on(
        'data',
        lines((line) => {
          if (line.includes('health: http')) resolve();
          this.parse(line);
        }),
      );
    });
  }

  /** SIGKILL: no shutdown hooks, no goodbye. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful shutdown), then SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  /** Records a worker run the line reports; false for any other line. */
  private parse(line: string): boolean {
    const at = Date.now();
    const ok = OK.exec(line);
    if (ok !== null && !line.includes('run failed')) {
      this.runs.push({ at, daemon: this.index, credential: ok[1], ok: true });
      return true;
    }
    const api = API_FAILED.exec(line);
    if (api !== null) {
      this.runs.push({
        at,
        daemon: this.index,
        credential: api[2],
        ok: false,
        code: `api-${api[1]}`,
      });
      return true;
    }
    const failed = FAILED.exec(line);
    if (failed !== null) {
      this.runs.push({ at, daemon: this.index, credential: failed[2], ok: false, code: failed[1] });
      return true;
    }
    if (!line.includes('run failed')) return false;
    this.runs.push({ at, daemon: this.index, credential: '?', ok: false, code: 'other' });
    this.errors.push(line);
    return true;
  }
}
