import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DevAuthority } from '@app/dev-authority';
import type { ReplaceResult, ReplicaInput, ReplicaResult, RoundResult } from './replica-worker';
import type { Registration } from './shared-app';

/** What a replica process is told of its credential: `reg`, at the local authority, trusting its CA. */
export function replicaCredential(
  authority: Pick<DevAuthority, 'url' | 'caPath'>,
  reg: Registration,
): Pick<ReplicaInput, 'authorityUrl' | 'caPath' | 'tenantId' | 'clientId' | 'secret'> {
  return { authorityUrl: authority.url, caPath: authority.caPath, ...reg };
}

/**
 * What a replica process is told to use the system-assigned managed identity of the host that
 * `authority` plays (its App Service endpoint), trusting the authority's CA.
 */
export function replicaManagedIdentity(
  authority: Pick<DevAuthority, 'url' | 'caPath' | 'managedIdentity'>,
): Pick<
  ReplicaInput,
  'authorityUrl' | 'caPath' | 'tenantId' | 'clientId' | 'secret' | 'managedIdentity'
> {
  const { endpoint, header } = authority.managedIdentity;
  return {
    authorityUrl: authority.url,
    caPath: authority.caPath,
    tenantId: '',
    clientId: '',
    secret: '',
    managedIdentity: { endpoint, header },
  };
}

/** A replica process, initialised and waiting for `go`. */
interface Started {
  child: ChildProcess;
  result: Promise<ReplicaResult>;
}

function startReplica(input: ReplicaInput): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'replica-worker.ts'), JSON.stringify(input)],
      {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    let done: (r: ReplicaResult) => void;
    let fail: (e: Error) => void;
    const result = new Promise<ReplicaResult>((res, rej) => {
      done = res;
      fail = rej;
    });
    result.catch(() => undefined);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n') && !out.includes('\n', 6)) resolve({ child, result });
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop()!;
      if (code !== 0 || last === 'ready') {
        const e = new Error(`replica exited with ${code}: ${err.slice(-2000)}`);
        reject(e);
        fail(e);
        return;
      }
      done(JSON.parse(last) as ReplicaResult);
    });
  });
}

/**
 * Runs `count` replica processes: all initialise, then all start their calls at once.
 * Resolves to each replica's result.
 */
export async function runReplicas(count: number, input: ReplicaInput): Promise<ReplicaResult[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startReplica(input)));
  for (const s of started) s.child.stdin!.end('go\n');
  return Promise.all(started.map((s) => s.result));
}

/** Replica processes that run a round each time the test says so (`rounds: true` in the input). */
export interface DrivenReplicas {
  /**
   * Every replica makes `calls` concurrent calls for `scope` (and one for each scope of earlier
   * rounds); each one's result.
   */
  round(scope: string, calls: number): Promise<RoundResult[]>;
  /** Every replica makes `calls` concurrent calls for each of `scopes` (tokens it holds already). */
  calls(scopes: readonly string[], calls: number): Promise<RoundResult[]>;
  /** Every replica's `calls` callers replace its token of `scope`, which an API refused. */
  replace(scope: string, calls: number): Promise<ReplaceResult[]>;
  /** Ends the replicas; each one's totals. */
  end(): Promise<ReplicaResult[]>;
  /** Kills whatever is still running (afterAll, or a test that failed half-way). */
  kill(): void;
}

/**
 * Starts `count` replicas in driven mode and resolves once all are initialised. A replica that
 * dies fails the round or the end it was part of with its stderr tail.
 */
export async function startDrivenReplicas(
  count: number,
  input: ReplicaInput,
): Promise<DrivenReplicas> {
  const replicas = Array.from({ length: count }, () => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        join(__dirname, 'replica-worker.ts'),
        JSON.stringify({ ...input, rounds: true }),
      ],
      {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const waiting: ((line: string) => void)[] = [];
    const dead = new Promise<never>((_, reject) => {
      child.on('exit', (code) => reject(new Error(`replica exited with ${code}: ${err}`)));
    });
    dead.catch(() => undefined);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => waiting.shift()?.(line));
    const next = () =>
      Promise.race([new Promise<string>((resolve) => waiting.push(resolve)), dead]);
    return { child, next };
  });
  const kill = () => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  };
  try {
    const ready = await Promise.all(replicas.map((r) => r.next()));
    if (ready.some((l) => l !== 'ready')) throw new Error(`replica said ${ready.join(', ')}`);
  } catch (e) {
    kill();
    throw e;
  }
  return {
    round: (scope, calls) =>
      Promise.all(
        replicas.map(async (r) => {
          const answer = r.next();
          r.child.stdin.write(`round ${calls} ${scope}\n`);
          const line = await answer;
          return JSON.parse(line.replace(/^round-done /, '')) as RoundResult;
        }),
      ),
    calls: (scopes, calls) =>
      Promise.all(
        replicas.map(async (r) => {
          const answer = r.next();
          r.child.stdin.write(`calls ${calls} ${scopes.join(' ')}\n`);
          return JSON.parse((await answer).replace(/^calls-done /, '')) as RoundResult;
        }),
      ),
    replace: (scope, calls) =>
      Promise.all(
        replicas.map(async (r) => {
          const answer = r.next();
          r.child.stdin.write(`replace ${calls} ${scope}\n`);
          return JSON.parse((await answer).replace(/^replace-done /, '')) as ReplaceResult;
        }),
      ),
    end: () =>
      Promise.all(
        replicas.map(async (r) => {
          const answer = r.next();
          r.child.stdin.end('end\n');
          return JSON.parse(await answer) as ReplicaResult;
        }),
      ),
    kill,
  };
}
