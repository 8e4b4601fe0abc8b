import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TOKEN_EXCHANGE_AUDIENCE } from './directory';
import type { DevAuthority } from './types';

/**
 * `.dev/authority.json`: how other programs (the daemon, scripts) talk to a running authority.
 * Paths are absolute; secrets are values. Version 1.
 */
export interface DevAuthorityManifest {
  version: 1;
  /** Authority host URL (`https://127.0.0.1:PORT`); tenants at `${authorityHost}/${tenantId}`. */
  authorityHost: string;
  /** `127.0.0.1:PORT`, for msal's `knownAuthorities`. */
  host: string;
  /** CA certificate (PEM) to trust for TLS. */
  caPath: string;
  apiUrl: string;
  apiScope: string;
  apiAppId: string;
  /** Loopback-only control API and its `x-control-token`. */
  controlUrl: string;
  controlToken: string;
  tenantId: string;
  externalIssuer: string;
  managedIdentity: {
    endpoint: string;
    header: string;
    systemClientId: string;
    userClientId: string;
    userObjectId: string;
    userResourceId: string;
  };
  apps: {
    secret: DemoApp & { secret: string };
    certificate: DemoApp & {
      certificatePath: string;
      privateKeyPath: string;
      thumbprintSha1: string;
      thumbprintSha256: string;
    };
    sniCertificate: DemoApp & {
      certificatePath: string;
      chainPath: string;
      privateKeyPath: string;
      subject: string;
      thumbprintSha256: string;
    };
    /** Workload identity: a Kubernetes-style token in `tokenFilePath` (AZURE_FEDERATED_TOKEN_FILE). */
    federated: DemoApp & {
      tokenFilePath: string;
      issuer: string;
      subject: string;
      audience: string;
    };
    /** Federated with the user-assigned managed identity's token (MI as FIC). */
    managedIdentityFederated: DemoApp & {
      managedIdentityClientId: string;
      issuer: string;
      subject: string;
    };
    /**
     * An agent identity blueprint (Entra Agent ID) authenticating with a subject name + issuer
     * certificate, and its agent identities by name (app ids).
     */
    agentBlueprint: DemoApp & {
      chainPath: string;
      privateKeyPath: string;
      subject: string;
      agents: Record<string, string>;
    };
  };
}

/** Names of the demo blueprint's agent identities. */
export const DEMO_AGENTS = ['billing', 'support', 'research'] as const;

/** An app of the demo tenant. */
export interface DemoApp {
  tenantId: string;
  clientId: string;
}

/** Subject of the demo workload identity's service-account token. */
export const DEMO_SERVICE_ACCOUNT = 'system:serviceaccount:demo:daemon';

async function writePrivate(path: string, content: string): Promise<string> {
  await writeFile(path, content, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/**
 * Provisions the demo tenant (one app per credential kind, system and user-assigned managed
 * identities), writes its PEM files and federated token file into `dir`, and returns the manifest
 * (the caller decides where to write it).
 */
export async function provisionDemo(
  authority: DevAuthority,
  dir: string,
): Promise<DevAuthorityManifest> {
  await mkdir(dir, { recursive: true });
  const tenant = authority.createTenant();
  const tenantId = tenant.tenantId;

  const secretApp = tenant.createApp({ displayName: 'demo-secret' });
  const secret = secretApp.addSecret();

  const certApp = tenant.createApp({ displayName: 'demo-certificate' });
  const cert = await certApp.addCertificate();
  const certificatePath = join(dir, 'demo-certificate.pem');
  await writeFile(certificatePath, cert.certificatePem);
  const privateKeyPath = await writePrivate(join(dir, 'demo-certificate.key'), cert.privateKeyPem);

  const sniApp = tenant.createApp({ displayName: 'demo-sni' });
  const sni = await sniApp.addSniCertificate();
  const sniCertPath = join(dir, 'demo-sni.pem');
  const sniChainPath = join(dir, 'demo-sni-chain.pem');
  await writeFile(sniCertPath, sni.certificatePem);
  await writeFile(sniChainPath, sni.chainPem);
  const sniKeyPath = await writePrivate(join(dir, 'demo-sni.key'), sni.privateKeyPem);

  const fedApp = tenant.createApp({ displayName: 'demo-workload-identity' });
  fedApp.addFederatedCredential({
    issuer: authority.externalIssuer.url,
    subject: DEMO_SERVICE_ACCOUNT,
  });

  const system = authority.createManagedIdentity({ tenantId, kind: 'system' });
  const user = authority.createManagedIdentity({ tenantId, kind: 'user' });
  const miFedApp = tenant.createApp({ displayName: 'demo-mi-federated' });
  const miIssuer = `${authority.url}/${tenantId}/v2.0`;
  miFedApp.addFederatedCredential({ issuer: miIssuer, subject: user.objectId });

  // Entra Agent ID: a blueprint with an SN+I certificate (what Microsoft recommends for it) and
  // three agent identities.
  const blueprint = tenant.createAgentBlueprint({ displayName: 'demo-agent-blueprint' });
  const blueprintCert = await blueprint.addSniCertificate();
  const blueprintChainPath = join(dir, 'demo-blueprint-chain.pem');
  await writeFile(blueprintChainPath, blueprintCert.chainPem);
  const blueprintKeyPath = await writePrivate(
    join(dir, 'demo-blueprint.key'),
    blueprintCert.privateKeyPem,
  );
  const agents = Object.fromEntries(
    DEMO_AGENTS.map((name) => [
      name,
      blueprint.createAgentIdentity({ displayName: `demo-agent-${name}` }).clientId,
    ]),
  );

  const manifest: DevAuthorityManifest = {
    version: 1,
    authorityHost: authority.url,
    host: authority.host,
    caPath: authority.caPath,
    apiUrl: authority.apiUrl,
    apiScope: authority.apiScope,
    apiAppId: authority.apiAppId,
    controlUrl: authority.control.url,
    controlToken: authority.control.token,
    tenantId,
    externalIssuer: authority.externalIssuer.url,
    managedIdentity: {
      ...authority.managedIdentity,
      systemClientId: system.clientId,
      userClientId: user.clientId,
      userObjectId: user.objectId,
      userResourceId: user.resourceId,
    },
    apps: {
      secret: { tenantId, clientId: secretApp.clientId, secret },
      certificate: {
        tenantId,
        clientId: certApp.clientId,
        certificatePath,
        privateKeyPath,
        thumbprintSha1: cert.thumbprintSha1,
        thumbprintSha256: cert.thumbprintSha256,
      },
      sniCertificate: {
        tenantId,
        clientId: sniApp.clientId,
        certificatePath: sniCertPath,
        chainPath: sniChainPath,
        privateKeyPath: sniKeyPath,
        subject: sni.subject,
        thumbprintSha256: sni.thumbprintSha256,
      },
      federated: {
        tenantId,
        clientId: fedApp.clientId,
        tokenFilePath: join(dir, 'federated-token'),
        issuer: authority.externalIssuer.url,
        subject: DEMO_SERVICE_ACCOUNT,
        audience: TOKEN_EXCHANGE_AUDIENCE,
      },
      managedIdentityFederated: {
        tenantId,
        clientId: miFedApp.clientId,
        managedIdentityClientId: user.clientId,
        issuer: miIssuer,
        subject: user.objectId,
      },
      agentBlueprint: {
        tenantId,
        clientId: blueprint.clientId,
        chainPath: blueprintChainPath,
        privateKeyPath: blueprintKeyPath,
        subject: blueprintCert.subject,
        agents,
      },
    },
  };
  await writeFederatedToken(authority, manifest);
  return manifest;
}

/** (Re)writes the demo workload identity's token file, like the kubelet refreshes projected tokens. */
export async function writeFederatedToken(
  authority: DevAuthority,
  manifest: DevAuthorityManifest,
  lifetimeSeconds = 3600,
): Promise<void> {
  const token = await authority.externalIssuer.mintToken({
    subject: manifest.apps.federated.subject,
    lifetimeSeconds,
  });
  await writePrivate(manifest.apps.federated.tokenFilePath, token);
}
