import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TestPki } from './recording-server';

/** What the server did with one request. */
export interface Served {
  path: string;
  /** Body bytes the socket accepted (written with backpressure: a stalled reader stops it). */
  written: number;
  /** Resolves when the response is over: `finished` (all sent) or `closed` (the client left). */
  done: Promise<'finished' | 'closed'>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x20); // spaces: valid JSON whitespace around a value

/**
 * An HTTPS server on 127.0.0.1 for the limits of a downstream API:
 * - `/large?bytes=N[&declare=1][&status=S]`: N bytes of JSON (`1` padded with spaces), written
 *   only as fast as the client reads, counted; `declare=1` sends a Content-Length;
 * - `/slow`: never answers (a call in flight until someone gives up);
 * - `/stall`: answers 200 and the start of a body, then nothing more;
 * - anything else: `{"ok":true}`.
 * It counts the TLS connections it accepted and those still open.
 */
export class StreamingServer {
  readonly served: Served[] = [];
  /** Each request as it arrives (for "the call is in flight"). */
  private arrivals: ((s: Served) => void)[] = [];
  private readonly sockets = new Set<Socket>();
  private drained: (() => void)[] = [];
  accepted = 0;
  url = '';
  private server?: Server;

  static async start(pki: TestPki): Promise<StreamingServer> {
    const s = new StreamingServer();
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        const url = new URL(req.url ?? '/', 'https://127.0.0.1');
        req.resume();
        let settle!: (how: 'finished' | 'closed') => void;
        const served: Served = {
          path: url.pathname,
          written: 0,
          done: new Promise((resolve) => (settle = resolve)),
        };
        res.once('finish', () => settle('finished'));
        res.once('close', () => settle('closed'));
        s.served.push(served);
        for (const notify of s.arrivals.splice(0)) notify(served);
        if (url.pathname === '/slow') return;
        if (url.pathname === '/stall') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"partial":');
          return;
        }
        if (url.pathname !== '/large') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
          return;
        }
        const total = Number(url.searchParams.get('bytes'));
        res.writeHead(Number(url.searchParams.get('status') ?? 200), {
          'content-type': 'application/json',
          ...(url.searchParams.get('declare') === '1' ? { 'content-length': String(total) } : {}),
        });
        void s.pump(res, served, total);
      },
    );
    server.on('secureConnection', (socket: Socket) => {
      s.accepted++;
      s.sockets.add(socket);
      socket.once('close', () => {
        s.sockets.delete(socket);
        if (s.sockets.size === 0) for (const resolve of s.drained.splice(0)) resolve();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    s.server = server;
    s.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return s;
  }

  /** Writes `total` bytes, waiting for `drain` whenever the socket's buffer is full. */
  private async pump(
    res: import('node:http').ServerResponse,
    served: Served,
    total: number,
  ): Promise<void> {
    let closed = false;
    let wake: (() => void) | undefined;
    const resume = () => {
      wake?.();
      wake = undefined;
    };
    res.once('close', () => {
      closed = true;
      resume();
    });
    res.on('drain', resume);
    res.write('1');
    served.written = 1;
    while (served.written < total && !closed) {
      const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, total - served.written));
      served.written += chunk.length;
      if (!res.write(chunk)) await new Promise<void>((resolve) => (wake = resolve));
    }
    if (!closed) res.end();
  }

  /** Resolves with the next request that arrives. */
  nextRequest(): Promise<Served> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  /** TLS connections open now. */
  get open(): number {
    return this.sockets.size;
  }

  /** Resolves once no connection is open. */
  allClosed(): Promise<void> {
    return this.sockets.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.drained.push(resolve));
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
