import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { DevAuthority } from '@app/dev-authority';
import type { TestPki } from './recording-server';

/** One request an {@link UploadServer} received, and what it answered. */
export interface Upload {
  method: string;
  path: string;
  /** Body bytes received. */
  bytes: number;
  authorization?: string;
  status: number;
}

/** A refusal of a request's token: the 401 challenge to answer with. */
export type Judge = (authorization: string | undefined) => Promise<string | undefined>;

/**
 * Judges tokens as the local authority's demo API does (signature, audience, lifetime, revocation),
 * by asking it: its 401 challenge, or undefined when it accepts the token.
 */
export function authorityJudge(authority: Pick<DevAuthority, 'apiUrl' | 'caPem'>): {
  judge: Judge;
  close(): Promise<void>;
} {
  const dispatcher = new Agent({ connect: { ca: authority.caPem } });
  return {
    judge: async (authorization) => {
      const res = await request(`${authority.apiUrl}/data`, {
        headers: authorization === undefined ? {} : { authorization },
        dispatcher,
      });
      await res.body.dump();
      if (res.statusCode !== 401) return undefined;
      return String(res.headers['www-authenticate'] ?? 'Bearer');
    },
    close: () => dispatcher.close(),
  };
}

/**
 * An HTTPS server on 127.0.0.1 that stores uploads: it reads every request's body whole, counting
 * its bytes, then answers `201 {"stored": <bytes>}` — or, when its judge refuses the request's
 * token, 401 with the judge's challenge (after reading the body, as an API behind a body parser
 * does). Every request is recorded with its byte count.
 */
export class UploadServer {
  readonly uploads: Upload[] = [];
  url = '';
  private server?: Server;

  private constructor(private judge: Judge) {}

  static async start(pki: TestPki, judge: Judge = async () => undefined): Promise<UploadServer> {
    const s = new UploadServer(judge);
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.on('end', () => {
          void s.judge(req.headers.authorization).then(
            (challenge) => {
              const status = challenge === undefined ? 201 : 401;
              s.uploads.push({
                method: req.method ?? 'GET',
                path: new URL(req.url ?? '/', 'https://127.0.0.1').pathname,
                bytes,
                authorization: req.headers.authorization,
                status,
              });
              res.writeHead(status, {
                'content-type': 'application/json',
                ...(challenge === undefined ? {} : { 'www-authenticate': challenge }),
              });
              res.end(JSON.stringify(challenge === undefined ? { stored: bytes } : { error: 401 }));
            },
            (e: Error) => {
              res.writeHead(500);
              res.end(e.message);
            },
          );
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    s.server = server;
    s.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return s;
  }

  /** Judges tokens with `judge` from now on. */
  judgeWith(judge: Judge): void {
    this.judge = judge;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
