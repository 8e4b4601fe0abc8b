import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAuthority, type InfraKeys } from './authority';
import { createCa, generateKeys, issueCertificate } from './pki';
import { checkRequestLogSize } from './request-log';
import type { DevAuthority, DevAuthorityOptions } from './types';

// RSA generation dominates start-up; authorities started in one process (test suites) share keys.
// Certificates, ids and secrets are still fresh per authority.
let sharedKeys: Promise<InfraKeys> | undefined;
function infraKeys(): Promise<InfraKeys> {
  sharedKeys ??= (async () => {
    const [ca, server, signing, sniRoot, sniIntermediate, externalIssuer] = await Promise.all(
      Array.from({ length: 6 }, () => generateKeys()),
    );
    return { ca, server, signing, sniRoot, sniIntermediate, externalIssuer };
  })();
  return sharedKeys;
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
  // Idle kept-alive connections stay open longer than clients keep theirs (undici's pools keep
  // them 4–30 s; Node's agent until the server closes): a server that closes first races a
  // client reusing the connection, which then sees ECONNRESET (as behind a load balancer, whose
  // idle timeout is set above its backends'). A deep backlog takes a burst of new connections.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host: '127.0.0.1', backlog: 2048 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `https://127.0.0.1:${port}`;
  try {
    return await LocalAuthority.create(server, origin, options, {
      stateDir,
      ownsStateDir,
      caPath,
      pki: { ca, sniRoot, sniIntermediate },
      keys,
    });
  } catch (err) {
    server.close();
    throw err;
  }
}
