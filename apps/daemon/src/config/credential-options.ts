import { readFileSync } from 'node:fs';
import type {
  ClientCredentialsModuleOptions,
  CredentialOptions,
  CredentialSource,
  SharedCacheOptions,
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
  const shared = sharedCacheFromEnv(env);
  return shared === undefined ? { credentials } : { credentials, cache: { shared } };
}

/**
 * The shared (Redis) token cache of replicas, when `TOKEN_CACHE_REDIS_URL` is set:
 * `TOKEN_CACHE_KEYS` = `id:base64key,...` (the first key encrypts; the others still read).
 * The library validates both and names the field of a bad one.
 */
export function sharedCacheFromEnv(
  env: Record<string, string | undefined>,
): SharedCacheOptions | undefined {
  const redisUrl = env.TOKEN_CACHE_REDIS_URL;
  if (redisUrl === undefined || redisUrl === '') return undefined;
  const encryptionKeys = (env.TOKEN_CACHE_KEYS ?? '')
    .split(',')
    .filter((k) => k.trim() !== '')
    .map((k) => {
      const at = k.indexOf(':');
      return { id: k.slice(0, Math.max(at, 0)).trim(), key: k.slice(at + 1).trim() };
    });
  return { redisUrl, encryptionKeys };
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
    case 'managed-identity':
      return { type: 'managed-identity', clientId: s.clientId };
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
