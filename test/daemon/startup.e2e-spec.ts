import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/** What the daemon logs as it starts: dev mode's authority, then the health URL. */
const STARTING = /dev mode: local authority at|health: http:\/\/\S+\/health\/ready/;
/** What it logs once it serves. */
const SERVING = /health: (http:\/\/\S+)\/health\/ready/;

/** How a daemon process ended. */
interface Outcome {
  /** Exit code; null when it was still running and the test stopped it. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** It got as far as starting dev mode or serving health (and was stopped with SIGTERM). */
  started: boolean;
}

const children = new Set<ChildProcess>();

/**
 * Runs the daemon's entry point (apps/daemon/src/main.ts, what `npm start` builds) with `args`
 * and an environment without any of the daemon's variables but `env`. Resolves when it exits; a
 * daemon that logs `stopOn` is reported `started`, given to `whileUp`, then stopped (SIGTERM).
 */
function runDaemon(
  args: string[],
  env: Record<string, string>,
  stopOn = STARTING,
  whileUp: (match: RegExpExecArray) => Promise<void> = async () => {},
): Promise<Outcome> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DAEMON_|NODE_ENV$)/.test(k)),
  );
  const child = spawn(
    process.execPath,
    ['-r', '@swc-node/register', 'apps/daemon/src/main.ts', ...args],
    {
      cwd: ROOT,
      env: { ...base, NO_COLOR: '1', NODE_NO_WARNINGS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  const outcome: Outcome = { code: null, stdout: '', stderr: '', started: false };
  let up: Promise<void> = Promise.resolve();
  const stopIfStarted = () => {
    const match = outcome.started ? null : stopOn.exec(outcome.stdout);
    if (match === null) return;
    outcome.started = true;
    up = whileUp(match).finally(() => child.kill('SIGTERM'));
  };
  child.stdout.on('data', (d: Buffer) => {
    outcome.stdout += d.toString();
    stopIfStarted();
  });
  child.stderr.on('data', (d: Buffer) => (outcome.stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      children.delete(child);
      up.then(() => resolve({ ...outcome, code: outcome.started ? null : code }), reject);
    });
  });
}

/** The daemon's entry point, as a process: how it is told what to run, and what it refuses. */
describe('daemon start-up (e2e)', () => {
  let dir: string;
  let devDir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'daemon-startup-'));
    devDir = join(dir, 'dev');
  });

  afterEach(async () => {
    for (const child of children) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** It stopped at once with one line, and never started the local authority. */
  function expectRefused(outcome: Outcome, message: string | RegExp): void {
    expect(outcome.started).toBe(false);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).not.toContain('dev mode');
    expect(existsSync(devDir)).toBe(false);
    const lines = outcome.stderr.trim().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^daemon failed to start: /)]);
    expect(lines[0]).toMatch(message);
  }

  it('NODE_ENV=production, --config whose value was lost: exits 1, never starts dev mode', async () => {
    const outcome = await runDaemon(['--config'], {
      NODE_ENV: 'production',
      DAEMON_DEV_DIR: devDir,
    });
    expectRefused(outcome, /--config has no file after it/);
  });

  it('NODE_ENV=production, an empty DAEMON_CONFIG: exits 1 naming the variable', async () => {
    const outcome = await runDaemon([], {
      NODE_ENV: 'production',
      DAEMON_CONFIG: '',
      DAEMON_DEV_DIR: devDir,
    });
    expectRefused(outcome, /DAEMON_CONFIG is set but empty/);
  });

  it('--config=<file> reads that file', async () => {
    const file = join(dir, 'daemon.yaml');
    await writeFile(file, 'workers: {}\n');
    const outcome = await runDaemon([`--config=${file}`], {
      NODE_ENV: 'production',
      DAEMON_DEV_DIR: devDir,
    });
    expect(outcome.started).toBe(false);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      `daemon failed to start: Invalid daemon configuration (${file}):\n`,
    );
    expect(existsSync(devDir)).toBe(false);
  });

  it('a health port another process holds: exits 1 with one line naming health.port, before any worker is scheduled', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const file = join(dir, 'daemon.yaml');
    await writeFile(
      file,
      [
        `health: { port: ${port} }`,
        'downstreamApis: { orders: { baseUrl: https://127.0.0.1:1, scopes: api://orders/.default } }',
        'credentials:',
        '  orders:',
        '    tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47',
        '    clientId: 11111111-2222-3333-4444-555555555555',
        '    authorityHost: https://127.0.0.1:1',
        '    sources: [{ type: secret, secret: s3cr3t-value }]',
        'workers: { poller: { type: poller, intervalSeconds: 30, credential: orders } }',
      ].join('\n'),
    );
    try {
      const outcome = await runDaemon(['--config', file], { DAEMON_DEV_DIR: devDir });
      expectRefused(
        outcome,
        `daemon failed to start: health.port: 127.0.0.1:${port} is in use: choose another port (0 picks a free one, printed at start), or stop what listens there`,
      );
      expect(outcome.stdout).toContain('shared token cache: off');
      expect(outcome.stdout).not.toContain('poller (poller)');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('without configuration or --dev: exits 1 with one line saying how to configure it or ask for dev mode', async () => {
    const outcome = await runDaemon([], { DAEMON_DEV_DIR: devDir });
    expectRefused(outcome, /No configuration: run with --config <file>.*--dev/);
  });

  it('refuses dev mode under NODE_ENV=production', async () => {
    const outcome = await runDaemon(['--dev'], {
      NODE_ENV: 'production',
      DAEMON_DEV_DIR: devDir,
    });
    expectRefused(outcome, /dev mode is refused with NODE_ENV=production/);
  });

  it('--dev (what npm start runs) starts the local authority and serves health; SIGTERM stops both', async () => {
    const start = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: { start: string };
      }
    ).scripts.start;
    expect(start).toMatch(/node dist\/apps\/daemon\/main\.js --dev$/);

    let live: number | undefined;
    const outcome = await runDaemon(
      ['--dev'],
      { DAEMON_DEV_DIR: devDir, DAEMON__health__port: '0' },
      SERVING,
      async ([, url]) => {
        live = (await fetch(`${url}/health/live`)).status;
      },
    );
    expect(outcome.started).toBe(true);
    expect(live).toBe(200);
    expect(outcome.stdout).toMatch(/dev mode: local authority at https:\/\/127\.0\.0\.1:\d+/);
    expect(outcome.stdout).toContain('dev mode: local authority stopped');
    expect(outcome.stdout).toContain('shared token cache: off (TOKEN_CACHE_REDIS_URL is not set)');
    expect(existsSync(join(devDir, 'daemon.dev.yaml'))).toBe(true);
  });
});
