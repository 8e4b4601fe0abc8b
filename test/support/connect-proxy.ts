import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** A real HTTP CONNECT proxy (npm `proxy`) in a child process, on loopback. */
export interface ConnectProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Every tunnel asked for so far (`host:port`), in order. */
  readonly tunnels: readonly string[];
  /** Lets the child's reports of the tunnels opened so far arrive (IPC). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts connect-proxy-child.mjs (the package is ESM-only, hence a child process): it opens tunnels to
 * loopback only and reports each one asked for.
 */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const child: ChildProcess = fork(join(__dirname, 'connect-proxy-child.mjs'), {
    stdio: 'inherit',
  });
  const tunnels: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (m: { port?: number; tunnel?: string }) => {
      if (m.port !== undefined) resolve(m.port);
      if (m.tunnel !== undefined) tunnels.push(m.tunnel);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    settle: () => new Promise((resolve) => setTimeout(resolve, 100)),
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      await exited;
    },
  };
}
