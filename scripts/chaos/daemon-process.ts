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
  /**
   * Not a run: a tick the daemon skipped because the worker's previous run was still going
   * (stuck waiting for a token). A worker that misses its schedule fails its users too.
   */
  skipped?: boolean;
  /** Of a successful run: where its token came from (`cache`, `network`) and when it expires. */
  source?: string;
  expiresOn?: number;
}

/** A line a daemon wrote, with the time the campaign read it. */
export interface LogLine {
  at: number;
  daemon: number;
  text: string;
}

/** What a daemon's `/health/ready` said about one credential, at `at`. */
export interface CredentialSnapshot {
  at: number;
  daemon: number;
  credential: string;
  status?: string;
  lastSuccessAt?: number;
  tokenExpiresOn?: number;
  lastError?: { code: string; at: number };
}

const ROOT = join(__dirname, '..', '..');
const OK = /: GET \S+ -> 200 .*\(credential (\S+?)[,)].*token from (\w+), expires (\S+?)\)/;
const FAILED = /run failed: (\S+)(?: AADSTS\d+)? \(credential (\S+?)[,)]/;
const API_FAILED = /run failed: \S+: GET \S+ -> (\d+) .*\(credential (\S+?)[,)]/;
const HEALTH = /health: (http:\/\/\S+?)\/health\/ready/;
const SKIPPED = /\[Workers\] (\S+): previous run still going; this tick is skipped/;

/**
 * The daemon (apps/daemon/src/main.ts, compiled on the fly) in a child process, from a config
 * file and environment: the same code `npm start` runs. Its log lines become {@link Run}s; every
 * line is kept (with `DAEMON_LOG_LEVEL=debug`, the library's retries and refreshes too) so that a
 * failed run can be explained afterwards.
 */
export class DaemonProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** Lines of stderr and unparsed failures, for the report of a crash. */
  readonly errors: string[] = [];
  /** Base URL of its health endpoints, once up. */
  healthUrl?: string;
  /** Pid of the running process (to tell its Redis connections from the others'). */
  pid?: number;

  constructor(
    readonly index: number,
    private readonly configFile: string,
    private readonly env: Record<string, string>,
    private readonly runs: Run[],
    private readonly lines: LogLine[],
    /** Worker name → the credential it uses (a skipped tick names only the worker). */
    private readonly workers: Record<string, string>,
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
    this.pid = child.pid;
    this.healthUrl = undefined;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const split = (onLine: (line: string) => void) => {
      let buffer = '';
      return (d: Buffer) => {
        buffer += d.toString();
        const parts = buffer.split('\n');
        buffer = parts.pop()!;
        for (const line of parts) {
          this.lines.push({ at: Date.now(), daemon: this.index, text: line });
          onLine(line);
        }
      };
    };
    return new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(
          new Error(
            `daemon ${this.index} exited (${code ?? signal}) before it was up: ${this.errors.slice(-5).join('\n')}`,
          ),
        ),
      );
      // Nest writes errors and warnings to stderr, the rest to stdout; anything else on stderr
      // (a crash, a stack) is unexpected.
      child.stderr.on(
        'data',
        split((line) => this.parse(line) || /^\[Nest\]|^\s*$/.test(line) || this.errors.push(line)),
      );
      child.stdout.on(
        'data',
        split((line) => {
          const health = HEALTH.exec(line);
          if (health !== null) {
            this.healthUrl = health[1];
            resolve();
          }
          this.parse(line);
        }),
      );
    });
  }

  /**
   * Per credential, what `/health/ready` reports (the library's `getStats()`: last success, the
   * expiry of the token it holds, the last error). Empty when the daemon does not answer.
   */
  async credentials(): Promise<CredentialSnapshot[]> {
    if (this.healthUrl === undefined || !this.running) return [];
    try {
      const res = await fetch(`${this.healthUrl}/health/ready`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as {
        details?: { credentials?: { credentials?: Record<string, Record<string, unknown>> } };
      };
      const at = Date.now();
      const time = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : undefined);
      return Object.entries(body.details?.credentials?.credentials ?? {}).map(([name, c]) => {
        const error = c.lastError as { code: string; at: string } | undefined;
        return {
          at,
          daemon: this.index,
          credential: name,
          status: c.status as string | undefined,
          lastSuccessAt: time(c.lastSuccessAt),
          tokenExpiresOn: time(c.tokenExpiresOn),
          lastError: error && { code: error.code, at: Date.parse(error.at) },
        };
      });
    } catch {
      return [];
    }
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
    const skipped = SKIPPED.exec(line);
    if (skipped !== null) {
      const credential = this.workers[skipped[1]] ?? '?';
      this.runs.push({ at, daemon: this.index, credential, ok: false, skipped: true });
      return true;
    }
    const ok = OK.exec(line);
    if (ok !== null && !line.includes('run failed')) {
      this.runs.push({
        at,
        daemon: this.index,
        credential: ok[1],
        ok: true,
        source: ok[2],
        expiresOn: Date.parse(ok[3]),
      });
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
