import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  provisionDemo,
  startDevAuthority,
  writeFederatedToken,
  type DevAuthority,
  type DevAuthorityManifest,
} from '@app/dev-authority';

/**
 * `npm run dev-authority`: the local authority on https://127.0.0.1:8443 (DEV_AUTHORITY_PORT; a free
 * port if taken), a demo tenant whose CA and credentials are in .dev/authority/ (DEV_AUTHORITY_DIR
 * replaces that folder), and the manifest beside that folder: .dev/authority.json
 * (`${DEV_AUTHORITY_DIR}.json`).
 */
const DEFAULT_PORT = 8443;
// Projected service-account tokens are refreshed well before they expire (kubelet: at 80 %).
const FEDERATED_TOKEN_LIFETIME_S = 3600;
const FEDERATED_TOKEN_REFRESH_MS = 20 * 60 * 1000;

async function start(port: number, stateDir: string): Promise<DevAuthority> {
  try {
    return await startDevAuthority({ port, stateDir });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err;
    console.warn(`dev-authority: port ${port} is taken; using a free port instead`);
    return startDevAuthority({ port: 0, stateDir });
  }
}

function summary(m: DevAuthorityManifest, manifestPath: string): string {
  return [
    `dev-authority listening on ${m.authorityHost} (loopback only)`,
    `  tenant        ${m.tenantId}`,
    `  CA            ${m.caPath}  (NODE_EXTRA_CA_CERTS=${m.caPath})`,
    `  API           GET ${m.apiUrl}/data  scope ${m.apiScope}`,
    `  mTLS          ${m.mtlsUrl}  (token endpoint and API asking for client certificates)`,
    `  apps          secret ${m.apps.secret.clientId}, certificate ${m.apps.certificate.clientId},`,
    `                sni ${m.apps.sniCertificate.clientId}, federated ${m.apps.federated.clientId},`,
    `                mi-federated ${m.apps.managedIdentityFederated.clientId}`,
    `  managed id    IDENTITY_ENDPOINT=${m.managedIdentity.endpoint}`,
    `  control       ${m.controlUrl}  (header x-control-token from the manifest)`,
    `  manifest      ${manifestPath}`,
    'Ctrl-C stops it.',
  ].join('\n');
}

async function main(): Promise<void> {
  // DEV_AUTHORITY_DIR is the folder docs/dev-authority.md names: the one holding ca.pem.
  const stateDir = resolve(process.env.DEV_AUTHORITY_DIR || join('.dev', 'authority'));
  const port = Number(process.env.DEV_AUTHORITY_PORT ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `DEV_AUTHORITY_PORT must be a port number (0-65535), got '${process.env.DEV_AUTHORITY_PORT}'`,
    );
  }
  await mkdir(stateDir, { recursive: true });
  const authority = await start(port, stateDir);
  const manifest = await provisionDemo(authority, stateDir);
  const manifestPath = `${stateDir}.json`;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });

  const refresh = setInterval(() => {
    writeFederatedToken(authority, manifest, FEDERATED_TOKEN_LIFETIME_S).catch((err: unknown) =>
      console.error('dev-authority: could not refresh the federated token file:', err),
    );
  }, FEDERATED_TOKEN_REFRESH_MS);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`dev-authority: ${signal}, stopping`);
    clearInterval(refresh);
    authority.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Announced once it can be stopped: a supervisor (or a test) that signals on this line gets a
  // clean stop, not a kill.
  console.log(summary(manifest, manifestPath));
}

main().catch((err: unknown) => {
  console.error('dev-authority failed to start:', err);
  process.exit(1);
});
