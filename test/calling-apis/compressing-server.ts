import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import { createBrotliCompress, createDeflate, createGzip } from 'node:zlib';
import type { TestPki } from './recording-server';

/** What the server did with one request. */
export interface Compressed {
  status: number;
  /** Compressed bytes the socket accepted (written with backpressure: a stalled reader stops it). */
  written: number;
  /** Resolves when the response is over: `finished` (all sent) or `closed` (the client left). */
  done: Promise<'finished' | 'closed'>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x20); // spaces: valid JSON whitespace after the value
const ENCODERS = { gzip: createGzip, deflate: createDeflate, br: createBrotliCompress };

/**
 * An HTTPS server on 127.0.0.1 whose answers are compressed bombs: `/bomb?encoding=gzip|deflate|br`
 * answers JSON (`1` padded with spaces) compressed about a thousand to one, for ever — or
 * `decoded=N` bytes of it — written only as fast as the client reads, the compressed bytes
 * counted. `status=S` sets the status (with `challenge=…` a `WWW-Authenticate: Bearer error=…`),
 * `length=L` a Content-Length (a lie: the compressed length is not known ahead).
 */
export class CompressingServer {
  readonly served: Compressed[] = [];
  url = '';
  private server?: Server;

  static async start(pki: TestPki): Promise<CompressingServer> {
    const s = new CompressingServer();
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        req.resume();
        const q = new URL(req.url ?? '/', 'https://127.0.0.1').searchParams;
        const encoding = (q.get('encoding') ?? 'gzip') as keyof typeof ENCODERS;
        const status = Number(q.get('status') ?? 200);
        let settle!: (how: 'finished' | 'closed') => void;
        const served: Compressed = {
          status,
          written: 0,
          done: new Promise((resolve) => (settle = resolve)),
        };
        s.served.push(served);
        res.once('finish', () => settle('finished'));
        res.once('close', () => settle('closed'));
        const challenge = q.get('challenge');
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-encoding': encoding,
          ...(q.has('length') ? { 'content-length': q.get('length')! } : {}),
          ...(challenge === null ? {} : { 'www-authenticate': `Bearer error="${challenge}"` }),
        });
        const decoded = q.has('decoded') ? Number(q.get('decoded')) : Infinity;
        let sent = 0;
        const source = new Readable({
          read() {
            if (sent === 0) {
              sent = 1;
              this.push('1');
              return;
            }
            const n = Math.min(CHUNK.length, decoded - sent);
            if (n <= 0) {
              this.push(null);
              return;
            }
            sent += n;
            this.push(CHUNK.subarray(0, n));
          },
        });
        const encoder = ENCODERS[encoding]();
        encoder.on('data', (chunk: Buffer) => (served.written += chunk.length));
        pipeline(source, encoder, res, () => undefined);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    s.server = server;
    s.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return s;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
