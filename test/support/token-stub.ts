import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, issueCertificate } from '@app/dev-authority/pki';

/** What the stub answers a token request with. */
export interface StubAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

/** A valid token answer (Entra's shape), for the stub to give between malformed ones. */
export const GOOD_ANSWER: StubAnswer = {
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    token_type: 'Bearer',
    expires_in: 3600,
    ext_expires_in: 3600,
    access_token: 'stub-token-of-the-token-stub-server',
  }),
};

/**
 * A tiny HTTPS token endpoint on 127.0.0.1 that answers every `POST …/oauth2/v2.0/token` with
 * `answer`, whatever it is: for the malformed answers no real authority gives on purpose.
 */
export interface TokenStub {
  /** `https://127.0.0.1:PORT`: an `authorityHost`. */
  readonly url: string;
  /** PEM of the CA that issued the stub's server certificate: a credential's `ca`. */
  readonly caPem: string;
  /** The answer to the next token requests. */
  answer: StubAnswer;
  /**
   * Answers to the next discovery requests (`GET /{tenant}/.well-known/openid-configuration`,
   * what msal asks an `oidc` authority for), one each, in order; then a valid document.
   */
  readonly discoveryAnswers: StubAnswer[];
  /** Token requests received so far. */
  readonly requests: number;
  /** Discovery requests received so far. */
  readonly discoveryRequests: number;
  /** The `scope` of each token request, in order. */
  readonly scopes: string[];
  close(): Promise<void>;
}

/** Starts a {@link TokenStub} with a fresh CA and server certificate. */
export async function startTokenStub(): Promise<TokenStub> {
  const ca = await createCa('token stub CA');
  const leaf = await issueCertificate({ subject: '127.0.0.1', issuer: ca, kind: 'server' });
  let requests = 0;
  let discoveryRequests = 0;
  const scopes: string[] = [];
  const stub = {
    answer: GOOD_ANSWER,
    scopes,
    discoveryAnswers: [] as StubAnswer[],
    get requests() {
      return requests;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
  } as TokenStub & { answer: StubAnswer };
  const server: Server = createServer(
    { key: leaf.privateKeyPem, cert: leaf.certificatePem },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const discovery = /^(\/[^/?]+)\/\.well-known\/openid-configuration(\?|$)/.exec(
          req.url ?? '',
        );
        if (req.method === 'GET' && discovery !== null) {
          discoveryRequests++;
          const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}${discovery[1]}`;
          const answer = stub.discoveryAnswers.shift() ?? {
            status: 200,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              issuer: base,
              token_endpoint: `${base}/oauth2/v2.0/token`,
              authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
              jwks_uri: `${base}/keys`,
            }),
          };
          res.writeHead(answer.status, answer.headers).end(answer.body);
          return;
        }
        if (req.method !== 'POST' || !/\/oauth2\/v2\.0\/token(\?|$)/.test(req.url ?? '')) {
          res.writeHead(404).end();
          return;
        }
        requests++;
        scopes.push(new URLSearchParams(Buffer.concat(chunks).toString()).get('scope') ?? '');
        const { status, headers, body } = stub.answer;
        res.writeHead(status, headers).end(body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `https://127.0.0.1:${port}`,
    caPem: ca.certificatePem,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
