import { ConfigurationError } from '../errors/client-credentials.errors';
import {
  checkDownstreamApis,
  downstreamApisSchema,
  unknownCredentials,
} from '../options/downstream-apis.schema';

/**
 * One downstream API: where it is and which token it takes.
 * @publicApi
 */
export interface DownstreamApiOptions {
  /**
   * Base URL (https); its origin is the only one the API's token is sent to, and a call's path
   * must stay under its path (`../x` is refused with `origin_refused`).
   */
  baseUrl: string;
  /** The API's scope, e.g. `api://orders/.default`. */
  scopes: string | string[];
  /** Credential name. @default the default credential */
  credential?: string;
  /** Tenant of the tokens. @default the credential's tenant */
  tenantId?: string;
  /**
   * An agent identity of the credential, an agent identity blueprint (its app id or configured
   * name): the API is called as the agent. See docs/agents.md.
   */
  agent?: string;
  /**
   * The agent user of `agent` (its UPN or object ID): the API is called as that user, with
   * delegated tokens (`scopes` are delegated scopes). Needs `agent`. See docs/agents.md.
   */
  agentUser?: string;
  /**
   * Longest a call may take, token included.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Largest response body read, in bytes (after content decoding): a larger one is not buffered
   * — its reading stops there and the call fails with `api_response_too_large` — so that an API
   * (or whatever answers at its URL) cannot make the app hold an unbounded body in memory.
   * @default 10485760 (10 MiB)
   */
  maxResponseBytes?: number;
  /**
   * Allow plain http to a loopback host (127.0.0.1, localhost, [::1]) — a local test API.
   * @default false
   */
  allowInsecureLoopback?: boolean;
  /** Extra CA certificates (PEM) to trust for this API, added to the public roots. */
  ca?: string | string[];
}

/**
 * Options of {@link DownstreamApiModule}: the downstream APIs by name.
 * @publicApi
 */
export interface DownstreamApiModuleOptions {
  apis: Record<string, DownstreamApiOptions>;
}

/** What a {@link ConfigurationError} of the downstream APIs names: where their fields are. */
export const DOWNSTREAM_API_MODULE = 'DownstreamApiModule options';

/** The default of {@link DownstreamApiOptions.timeoutMs}. */
export const DEFAULT_API_TIMEOUT_MS = 30_000;

/** The default of {@link DownstreamApiOptions.maxResponseBytes}: 10 MiB. */
export const DEFAULT_API_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/**
 * Validates downstream APIs (from module options or a configuration document): every problem at
 * once, each naming its path (`downstreamApis.orders.baseUrl`) and how to fix it.
 * @throws ConfigurationError
 */
export function resolveDownstreamApis(
  apis: unknown,
  path = 'downstreamApis',
): Record<string, DownstreamApiOptions> {
  const checked = checkDownstreamApis(apis, path);
  if (checked.apis === undefined)
    throw new ConfigurationError(checked.problems, DOWNSTREAM_API_MODULE);
  return checked.apis;
}

/**
 * The `downstreamApis` of a configuration document (the same document as the credentials', which
 * `clientCredentialsOptionsFromConfig` reads without refusing this section), validated, for
 * `DownstreamApiModule.forRootAsync`; no section → no APIs. When the document names its
 * credentials, an API's `credential` must be one of them (the `AZURE_*` variables' credential
 * included only under a name the document lists, as `clientCredentialsOptionsFromConfig` reads it);
 * every problem is reported at once.
 *
 * @example
 * DownstreamApiModule.forRootAsync({
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => downstreamApisFromConfig(config.get('clientCredentials')),
 * })
 * @throws ConfigurationError
 * @publicApi
 */
export function downstreamApisFromConfig(document: unknown = {}): DownstreamApiModuleOptions {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigurationError(
      [
        'the configuration document must be an object, e.g. { downstreamApis: { orders: { baseUrl, scopes } } }',
      ],
      DOWNSTREAM_API_MODULE,
    );
  }
  const { downstreamApis: section, credentials } = document as {
    downstreamApis?: unknown;
    credentials?: unknown;
  };
  const problems: string[] = [];
  let apis: Record<string, DownstreamApiOptions> = {};
  try {
    apis = resolveDownstreamApis(section);
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    problems.push(...e.problems);
  }
  // The names the document configures (an `AZURE_*` credential only under a name it lists, as
  // `clientCredentialsOptionsFromConfig` reads it); none named (credentials given in code, or the
  // environment's `default` alone): nothing to check against.
  const names =
    credentials !== null && typeof credentials === 'object' && !Array.isArray(credentials)
      ? Object.keys(credentials)
      : [];
  if (names.length > 0) problems.push(...unknownCredentials(section, names, 'downstreamApis'));
  if (problems.length > 0) throw new ConfigurationError(problems, DOWNSTREAM_API_MODULE);
  return { apis };
}

export { downstreamApisSchema, unknownCredentials };
