import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, issueCertificate } from '@app/dev-authority/pki';

/** A CA of the test's own and a server certificate for 127.0.0.1 it signed. */
export interface TestPki {
  caPem: string;
  certificatePem: string;
  privateKeyPem: string;
}

/** Makes a CA and a 127.0.0.1 server certificate (a second origin besides the authority's). */
export async function createTestPki(): Promise<TestPki> {
  const ca = await createCa('calling-apis test CA');
  const server = await issueCertificate({ subject: '127.0.0.1', issuer: ca, kind: 'server' });
  return {
    caPem: ca.certificatePem,
    certificatePem: server.certificatePem,
    privateKeyPem: server.privateKeyPem,
  };
}

/** One request a {@link RecordingServer} received. */
export interface Recorded {
  method: string;
  path: string;
  authorization?: string;
  /** The other headers a redirect hop may have to drop. */
  cookie?: string;
  proxyAuthorization?: string;
  contentType?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  contentLocation?: string;
}

/**
 * An HTTPS server on 127.0.0.1 that records every request's headers and answers 200 JSON, or —
 * on `/redirect?to=<url>&status=<code>` — redirects there, or — on `/loop` — redirects to itself
 * for ever, or — on `/unauthorized` — 401 with a claims challenge, or — on `/challenge-every-time`
 * — 401 with a claims challenge whose claims are new each time, or — on `/hang` — nothing, until
 * the client goes or the server closes.
 */
export class RecordingServer {
  readonly requests: Recorded[] = [];
  /** Called once with the next request recorded (see {@link nextRequest}). */
  private waiting: ((request: Recorded) => void)[] = [];
  private server?: Server;
  url = '';

  static async start(pki: TestPki): Promise<RecordingServer> {
    const recorder = new RecordingServer();
    let challenges = 0;
    const server = createServer(
      { cert: pki.certificatePem, key: pki.privateKeyPem },
      (req, res) => {
        const url = new URL(req.url ?? '/', 'https://127.0.0.1');
        recorder.requests.push({
          method: req.method ?? 'GET',
          path: url.pathname,
          authorization: req.headers.authorization,
          cookie: req.headers.cookie,
          proxyAuthorization: req.headers['proxy-authorization'],
          contentType: req.headers['content-type'],
          contentEncoding: req.headers['content-encoding'],
          contentLanguage: req.headers['content-language'],
          contentLocation: req.headers['content-location'],
        });
        for (const arrived of recorder.waiting.splice(0)) arrived(recorder.requests.at(-1)!);
        req.resume();
        if (url.pathname === '/hang') return;
        const to = url.searchParams.get('to');
        if (url.pathname === '/redirect' && to !== null) {
          res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: to });
          res.end();
          return;
        }
        if (url.pathname === '/loop') {
          res.writeHead(302, { location: '/loop' });
          res.end();
          return;
        }
        if (url.pathname === '/unauthorized') {
          // What a foreign origin could answer to make a client fetch tokens, with its claims.
          res.writeHead(401, {
            'content-type': 'application/json',
            'www-authenticate':
              'Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxIn19fQ=="',
          });
          res.end(JSON.stringify({ error: 'insufficient_claims' }));
          return;
        }
        if (url.pathname === '/challenge-every-time' || url.pathname === '/challenge-now') {
          // An API that answers every call with a claims challenge whose claims differ each time:
          // a counter, or a revocation "now" (the next whole second, as JWT times go; as a policy
          // loop would name it).
          const value =
            url.pathname === '/challenge-now'
              ? String(Math.floor(Date.now() / 1000) + 1)
              : String(++challenges);
          const claims = {
            access_token: { nbf: { essential: true, value } },
          };
          res.writeHead(401, {
            'content-type': 'application/json',
            'www-authenticate': `Bearer error="insufficient_claims", claims="${Buffer.from(JSON.stringify(claims)).toString('base64')}"`,
          });
          res.end(JSON.stringify({ error: 'insufficient_claims' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, path: url.pathname }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    recorder.server = server;
    recorder.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return recorder;
  }

  /** The next request that arrives: a test acts once the API has the call, not after a delay. */
  nextRequest(): Promise<Recorded> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
