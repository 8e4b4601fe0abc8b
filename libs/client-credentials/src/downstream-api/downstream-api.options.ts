import { z } from 'zod';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { formatPath } from '../options/resolve-options';

/**
 * One downstream API: where it is and which token it takes.
 * @publicApi
 */
export interface DownstreamApiOptions {
  /** Base URL (https); its origin is the only one the API's token is sent to. */
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

/** The default of {@link DownstreamApiOptions.timeoutMs}. */
export const DEFAULT_API_TIMEOUT_MS = 30_000;

/** The default of {@link DownstreamApiOptions.maxResponseBytes}: 10 MiB. */
export const DEFAULT_API_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** The largest `maxResponseBytes` (256 MiB): a body is decoded to one string, and V8's are < 512 MiB. */
const MAX_RESPONSE_BYTES_LIMIT = 256 * 1024 * 1024;

const text = (fix: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? `is required — ${fix}` : 'must be a string') })
    .trim()
    .min(1, { error: `must not be empty — ${fix}` });

const api = z
  .strictObject({
    baseUrl: text('set the API base URL, e.g. https://orders.contoso.com/api').refine(
      (v) => URL.canParse(v),
      { error: 'must be a URL, e.g. https://orders.contoso.com/api' },
    ),
    scopes: z.union(
      [
        text("set the API's scope"),
        z
          .array(text("set the API's scope"))
          .min(1, { error: "must list at least one scope, e.g. ['api://orders/.default']" }),
      ],
      {
        error: "must be the API's scope (or a list), e.g. 'api://orders/.default'",
      },
    ),
    credential: text('name a configured credential, or leave it out').optional(),
    tenantId: text('set a tenant id, or leave it out').optional(),
    agent: text("set an agent identity's app id or name, or leave it out").optional(),
    timeoutMs: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(600_000, { error: 'must be at most 600000' })
      .optional(),
    maxResponseBytes: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number of bytes' })
      .min(1, { error: 'must be at least 1' })
      .max(MAX_RESPONSE_BYTES_LIMIT, { error: `must be at most ${MAX_RESPONSE_BYTES_LIMIT}` })
      .optional(),
    allowInsecureLoopback: z.boolean({ error: 'must be true or false' }).optional(),
    ca: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .superRefine((a, ctx) => {
    if (!URL.canParse(a.baseUrl)) return;
    const url = new URL(a.baseUrl);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && loopback && a.allowInsecureLoopback)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['baseUrl'],
        message:
          'must be https: the API token is sent only over https (plain http only to a loopback host with allowInsecureLoopback: true)',
      });
    }
    if (url.username || url.password || url.search || url.hash) {
      ctx.addIssue({
        code: 'custom',
        path: ['baseUrl'],
        message: 'must not hold credentials, a query or a fragment',
      });
    }
  });

/** The schema of `downstreamApis` in a configuration document (name → API). */
export const downstreamApisSchema = z.record(z.string(), api, {
  error: 'must be an object of named APIs, e.g. { orders: { baseUrl, scopes } }',
});

/**
 * Validates downstream APIs (from module options or a configuration document): every problem at
 * once, each naming its path (`downstreamApis.orders.baseUrl`) and how to fix it.
 * @throws ConfigurationError
 */
export function resolveDownstreamApis(
  apis: unknown,
  path = 'downstreamApis',
): Record<string, DownstreamApiOptions> {
  const parsed = downstreamApisSchema.safeParse(apis ?? {});
  if (!parsed.success) {
    throw new ConfigurationError(
      parsed.error.issues.map((i) => {
        // Worded like the module options' own: zod's default names the key but not the fix.
        const message =
          i.code === 'unrecognized_keys'
            ? `unknown option${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')} — check the spelling`
            : i.message;
        return `${formatPath([path, ...i.path])}: ${message}`;
      }),
    );
  }
  return parsed.data;
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
    throw new ConfigurationError([
      'the configuration document must be an object, e.g. { downstreamApis: { orders: { baseUrl, scopes } } }',
    ]);
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
  if (problems.length > 0) throw new ConfigurationError(problems);
  return { apis };
}

/**
 * `<path>.<api>.credential: names no configured credential …` for each API of `section` whose
 * `credential` is not one of `names`. Every entry is checked, even one with other problems: each
 * mistake is reported in one run.
 */
export function unknownCredentials(
  section: unknown,
  names: readonly string[],
  path: string,
): string[] {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return [];
  const problems: string[] = [];
  for (const [name, api] of Object.entries(section as Record<string, { credential?: unknown }>)) {
    const credential = api?.credential;
    if (typeof credential !== 'string' || credential.trim() === '') continue;
    if (names.includes(credential.trim())) continue;
    problems.push(
      `${formatPath([path, name, 'credential'])}: names no configured credential — use one of ${names.map((n) => `'${n}'`).join(', ')}, or leave it out for the default`,
    );
  }
  return problems;
}
