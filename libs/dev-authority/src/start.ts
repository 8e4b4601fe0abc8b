import { webcrypto } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAuthority, type InfraKeys } from './authority';
import { createCa, generateKeys, issueCertificate } from './pki';
import { checkRequestLogSize } from './request-log';
import type { DevAuthority, DevAuthorityOptions } from './types';

// RSA generation dominates start-up (about 0.9 s of CPU for the six keys); authorities started in
// one process (test suites) share keys. Certificates, ids and secrets are still fresh per authority.
// The keys are kept on Node's `webcrypto` object rather than in a module variable: a test runner that
// evaluates this module once per test file (jest: a module registry per file, many files per worker
// process) shares core modules between them, so the process generates its keys once, as meant.
const SHARED_KEYS = Symbol.for('nest-client-credentials.dev-authority.infra-keys');
type KeyHolder = { [SHARED_KEYS]?: Promise<InfraKeys> };
function infraKeys(): Promise<InfraKeys> {
  const holder = webcrypto as unknown as KeyHolder;
  const shared = (holder[SHARED_KEYS] ??= (async () => {
    const [ca, server, signing, sniRoot, sniIntermediate, externalIssuer] = await Promise.all(
      Array.from({ length: 6 }, () => generateKeys()),
    );
    return { ca, server, signing, sniRoot, sniIntermediate, externalIssuer };
  })());
  // A failed generation is not kept: the next start tries again.
  shared.catch(() => {
    if (holder[SHARED_KEYS] === shared) delete holder[SHARED_KEYS];
  });
  return shared;
}

/**
 * Starts a local Entra ID–compatible authority on 127.0.0.1 over HTTPS.
 * @example
 * const authority = await startDevAuthority();
 * const app = authority.createTenant().createApp();
 * const secret = app.addSecret();
 */
export async function startDevAuthority(options: DevAuthorityOptions = {}): Promise<DevAuthority> {
  checkRequestLogSize(options.requestLogSize);
  const keys = await infraKeys();
  const ownsStateDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'dev-authority-')));
  await mkdir(stateDir, { recursive: true });
  const ca = await createCa('dev-authority local CA', keys.ca);
  const serverCert = await issueCertificate({
    subject: 'CN=127.0.0.1',
    issuer: ca,
    kind: 'server',
    keys: keys.server,
  });
  const sniRoot = await createCa('dev-authority SNI root', keys.sniRoot);
  const sniIntermediate = await issueCertificate({
    subject: 'CN=dev-authority SNI intermediate',
    issuer: sniRoot,
    kind: 'intermediate',
    keys: keys.sniIntermediate,
  });
  const caPath = join(stateDir, 'ca.pem');
  await writeFile(caPath, ca.certificatePem);
  await writeFile(join(stateDir, 'sni-root.pem'), sniRoot.certificatePem);

  const server = createServer({ key: serverCert.privateKeyPem, cert: serverCert.certificatePem });
  // Entra's mtlsauth host: every client is asked for a certificate, whose chain Node checks
  // against the SN+I root; a connection without one (or with another) is still served, and
  // answered as Entra would (the token endpoint and the demo API decide).
  const mtlsServer = createServer({
    key: serverCert.privateKeyPem,
    cert: serverCert.certificatePem,
    requestCert: true,
    rejectUnauthorized: false,
    ca: [sniRoot.certificatePem],
  });
  const listening: Server[] = [];
  try {
    const port = await listen(server, options.port ?? 0, listening);
    const mtlsPort = await listen(mtlsServer, options.mtlsPort ?? 0, listening);
    return await LocalAuthority.create(server, `https://127.0.0.1:${port}`, options, {
      stateDir,
      ownsStateDir,
      caPath,
      pki: { ca, sniRoot, sniIntermediate },
      keys,
      mtls: { server: mtlsServer, url: `https://127.0.0.1:${mtlsPort}` },
    });
  } catch (err) {
    for (const s of listening) s.close();
    throw err;
  }
}

async function listen(server: Server, port: number, listening: Server[]): Promise<number> {
  // Idle kept-alive connections stay open longer than clients keep theirs (undici's pools keep
  // them 4–30 s; Node's agent until the server closes): a server that closes first races a
  // client reusing the connection, which then sees ECONNRESET (as behind a load balancer, whose
  // idle timeout is set above its backends'). A deep backlog takes a burst of new connections.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: 2048 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  listening.push(server);
  return (server.address() as AddressInfo).port;
}
