import type { ClientCredentialsModuleOptions } from '../client-credentials.options';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { resolveOptions } from './resolve-options';
import { checkDownstreamApis, unknownCredentials } from './downstream-apis.schema';
import type { CredentialOptions, CredentialSource } from '../credential.options';

/** The environment variables read, as @azure/identity's EnvironmentCredential names them. */
export const ENVIRONMENT_VARIABLES = [
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
] as const;

/** Name of the credential built from the environment. */
export const ENVIRONMENT_CREDENTIAL = 'default';

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

function flag(env: Env, name: string, problems: string[]): boolean | undefined {
  const value = env[name]?.trim().toLowerCase();
  if (value === undefined || value === '') return undefined;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  problems.push(`${name}: must be true or false`);
  return undefined;
}

/**
 * The credential the `AZURE_*` environment variables describe, or undefined when none is set.
 * Sources follow @azure/identity's order: client secret, then certificate, then the federated
 * token file (workload identity) — each present variable adds one, so a chain falls back in order.
 * @throws ConfigurationError naming each variable that is wrong (never its value)
 */
export function credentialFromEnvironment(env: Env = process.env): CredentialOptions | undefined {
  const get = (name: string) => (env[name]?.trim() ? env[name].trim() : undefined);
  if (!ENVIRONMENT_VARIABLES.some((n) => get(n) !== undefined)) return undefined;
  const problems: string[] = [];
  const sources: CredentialSource[] = [];
  const secret = get('AZURE_CLIENT_SECRET');
  if (secret !== undefined) sources.push({ type: 'secret', secret });
  const certificatePath = get('AZURE_CLIENT_CERTIFICATE_PATH');
  const sendX5c = flag(env, 'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN', problems);
  const passphrase = get('AZURE_CLIENT_CERTIFICATE_PASSWORD');
  if (certificatePath !== undefined) {
    sources.push({
      type: 'certificate',
      certificatePath,
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(sendX5c === undefined ? {} : { sendX5c }),
    });
  } else if (passphrase !== undefined || sendX5c !== undefined) {
    problems.push(
      'AZURE_CLIENT_CERTIFICATE_PATH: is required when AZURE_CLIENT_CERTIFICATE_PASSWORD or AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is set',
    );
  }
  const tokenFilePath = get('AZURE_FEDERATED_TOKEN_FILE');
  if (tokenFilePath !== undefined) sources.push({ type: 'workload-identity', tokenFilePath });
  for (const name of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID'] as const) {
    if (get(name) === undefined)
      problems.push(
        `${name}: is required — set the ${name === 'AZURE_TENANT_ID' ? 'directory (tenant)' : 'application (client)'} ID`,
      );
  }
  if (sources.length === 0) {
    problems.push(
      'AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE: set at least one, or unset the other AZURE_* variables',
    );
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
  const authorityHost = get('AZURE_AUTHORITY_HOST');
  return {
    tenantId: get('AZURE_TENANT_ID'),
    clientId: get('AZURE_CLIENT_ID'),
    ...(authorityHost === undefined ? {} : { authorityHost }),
    sources,
  };
}

/**
 * The value of a document's credential that stands for the `AZURE_*` variables' credential
 * (`credentials: { default: 'environment' }`): how a document that names credentials of its own
 * asks for the environment's too.
 */
const FROM_ENVIRONMENT = 'environment';

/**
 * Module options from configuration instead of code: a plain document (as loaded from JSON or
 * YAML, e.g. by @nestjs/config) with any number of named credentials and their ordered sources.
 * Validated at once: every problem names its path (`credentials.graph.sources[1].tokenFilePath`)
 * or variable and says how to fix it, never echoing a value.
 *
 * The `AZURE_*` variables (as @azure/identity's EnvironmentCredential reads them) make a credential
 * only when the document asks for it: when it names no credentials at all (the credential is then
 * `default`, the only one), or under a name whose value is `'environment'`
 * (`credentials: { default: 'environment', graph: { … } }`). A document that configures its own
 * credentials is never changed by variables set for other SDKs: on AKS with workload identity, or
 * with `AZURE_CLIENT_ID` picking a user-assigned managed identity for `DefaultAzureCredential`, the
 * variables are not read — neither an error nor a second credential.
 *
 * A missing section — `undefined` or `null`, as `config.get('clientCredentials')` returns for a
 * misspelt or unloaded key — is an error, never "no credentials named": pass `{}` to build the
 * credential from the variables alone.
 *
 * The same document may hold the named downstream APIs (`downstreamApis`): they are checked here
 * too (their problems, an API's unknown `credential` included, in the same error as the
 * credentials'), and left out of the returned module options, for `downstreamApisFromConfig` of
 * `nest-client-credentials/downstream-api` to read.
 *
 * @example
 * ClientCredentialsModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => clientCredentialsOptionsFromConfig(config.get('clientCredentials')),
 * })
 * @throws ConfigurationError
 * @publicApi
 */
export function clientCredentialsOptionsFromConfig(
  document: unknown,
  env: Env = process.env,
): ClientCredentialsModuleOptions {
  // A missing section (`config.get('…')` of a misspelt or unloaded key) is not "no credentials
  // named": read as `{}`, it would silently become the AZURE_* variables' credential — on AKS the
  // pod's workload identity, another app registration than the one configured.
  if (document === undefined || document === null) throw new ConfigurationError([missingSection]);
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigurationError([
      'the configuration document must be an object, e.g. { credentials: { … } }',
    ]);
  }
  // `downstreamApis` is the downstream API module's section (`downstreamApisFromConfig` reads
  // it): never module options, but checked here too, its problems in the same one error.
  const { downstreamApis, ...doc } = document as Partial<ClientCredentialsModuleOptions> & {
    downstreamApis?: unknown;
  };
  // Problems of the environment and of the document are reported together.
  const problems: string[] = [];
  // Names of the credentials the variables made: their problems are the variables'.
  const fromVariables = new Set<string>();
  const fromEnvironment = (name: string): CredentialOptions | undefined => {
    try {
      const credential = credentialFromEnvironment(env);
      if (credential !== undefined) fromVariables.add(name);
      return credential;
    } catch (e) {
      if (!(e instanceof ConfigurationError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  };
  const named: unknown = doc.credentials;
  let credentials: Record<string, CredentialOptions>;
  if (isRecord(named) && Object.keys(named).length > 0) {
    credentials = {};
    for (const [name, value] of Object.entries(named)) {
      if (value !== FROM_ENVIRONMENT) {
        credentials[name] = value as CredentialOptions;
        continue;
      }
      const before = problems.length;
      const credential = fromEnvironment(name);
      if (credential !== undefined) credentials[name] = credential;
      else if (problems.length === before) problems.push(`credentials.${name}: ${noVariables}`);
    }
  } else if (named === undefined || isRecord(named)) {
    const credential = fromEnvironment(ENVIRONMENT_CREDENTIAL);
    credentials = credential === undefined ? {} : { [ENVIRONMENT_CREDENTIAL]: credential };
  } else {
    // Not a mapping: the options' own validation names it.
    credentials = named as Record<string, CredentialOptions>;
  }
  // None at all: said once, here, and the rest of the document is still checked (a misspelt
  // `credentials` is one of its unknown options), without the schema's own line for the empty map.
  const none = isRecord(credentials) && Object.keys(credentials).length === 0;
  if (none && problems.length === 0) problems.push(noneConfigured);
  const options = { ...doc, credentials };
  try {
    resolveOptions(options);
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    const own = e.problems.filter((p) => !(none && p.startsWith('credentials: ')));
    problems.push(...own.map((p) => byVariable(p, fromVariables)));
  }
  if (downstreamApis !== undefined) {
    problems.push(...checkDownstreamApis(downstreamApis).problems);
    if (isRecord(named) && Object.keys(named).length > 0)
      problems.push(...unknownCredentials(downstreamApis, Object.keys(named), 'downstreamApis'));
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
  return options;
}

/** The variable that set each field of a credential built from the `AZURE_*` variables. */
const VARIABLE_OF: Readonly<Record<string, string>> = {
  tenantId: 'AZURE_TENANT_ID',
  clientId: 'AZURE_CLIENT_ID',
  authorityHost: 'AZURE_AUTHORITY_HOST',
  secret: 'AZURE_CLIENT_SECRET',
  certificatePath: 'AZURE_CLIENT_CERTIFICATE_PATH',
  passphrase: 'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  sendX5c: 'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN',
  tokenFilePath: 'AZURE_FEDERATED_TOKEN_FILE',
};

/**
 * A problem of a credential the variables made, named by its variable (`AZURE_TENANT_ID: …`)
 * rather than by a path (`credentials.default.tenantId`) the user never wrote.
 */
function byVariable(problem: string, names: ReadonlySet<string>): string {
  const at = /^credentials\.([^.:[]+)\.(?:sources\[\d+\]\.)?([A-Za-z0-9]+): /.exec(problem);
  const variable = at === null || !names.has(at[1]) ? undefined : VARIABLE_OF[at[2]];
  return variable === undefined ? problem : `${variable}: ${problem.slice(at![0].length)}`;
}

const missingSection =
  'the configuration section is missing (undefined or null: a misspelt key, or a file not loaded?) — pass the section, or pass {} explicitly to build the credential from the AZURE_* variables';

const noneConfigured =
  'credentials: none configured — set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or name credentials in the configuration document';

const noVariables = `is '${FROM_ENVIRONMENT}' (the AZURE_* variables' credential) but no AZURE_* variable is set — set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or configure the credential in the document`;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
