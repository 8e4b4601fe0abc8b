import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ReplicaInput, ReplicaResult } from './replica-worker';

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
