import { readFileSync } from 'node:fs';
import type {
  ClientCredentialsModuleOptions,
  CredentialOptions,
  CredentialSource,
} from '@app/client-credentials';
import type { DaemonConfig, SourceConfig } from './daemon-config.schema';
import { DaemonConfigError } from './load-config';

/** The library's options for the daemon's credentials. */
export function toClientCredentialsOptions(
  config: DaemonConfig,
  env: Record<string, string | undefined> = process.env,
): ClientCredentialsModuleOptions {
  const credentials: Record<string, CredentialOptions> = {};
  for (const [name, c] of Object.entries(config.credentials)) {
    credentials[name] = {
      tenantId: c.tenantId,
      clientId: c.clientId,
      authorityHost: c.authorityHost,
      ca: c.caPath === undefined ? undefined : readPem(c.caPath, `credentials.${name}.caPath`),
      sources: c.sources.map((s, i) => toSource(s, `credentials.${name}.sources[${i}]`, env)),
    };
  }
  return { credentials };
}

function toSource(
  s: SourceConfig,
  _path: string,
  env: Record<string, string | undefined>,
): CredentialSource {
  switch (s.type) {
    case 'secret':
      return { type: 'secret', secret: s.secret };
    case 'certificate':
      return {
        type: 'certificate',
        certificatePath: s.certificatePath,
        passphrase: s.passphrase,
        sendX5c: s.sendX5c,
      };
    case 'workload-identity':
      // The library re-reads the file when it changes and before its token expires; by default
      // it takes AZURE_FEDERATED_TOKEN_FILE, which workload identity sets in the pod.
      return {
        type: 'workload-identity',
        tokenFilePath: s.tokenFilePath ?? env.AZURE_FEDERATED_TOKEN_FILE,
      };
    case 'managed-identity-assertion':
      return {
        type: 'managed-identity-assertion',
        managedIdentityClientId: s.managedIdentityClientId,
      };
  }
}

/** Reads a PEM file named in the configuration; a failure names the field. */
export function readPem(file: string, path: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new DaemonConfigError(
      `${path}: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? 'error'}): point it at a readable PEM file`,
    );
  }
}
