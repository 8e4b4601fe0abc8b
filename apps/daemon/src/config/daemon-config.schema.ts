import { validateCronExpression } from 'cron';
import { z } from 'zod';
import type { ClientCredentialsModuleOptions } from '@app/client-credentials';
import type { DownstreamApiOptions } from '@app/client-credentials/downstream-api';
import * as m from './config.messages';

const META_TENANTS = new Set(['common', 'organizations', 'consumers']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

/** A strict object: an unknown (mistyped) key is an error that lists the keys allowed. */
function section<T extends z.ZodRawShape>(shape: T, what: string) {
  const keys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((k) => m.unknownKey(k, keys)).join('; ')
        : issue.input === undefined
          ? m.required(what)
          : `must be a mapping: set ${what}`,
  });
}

const text = (what: string) =>
  z.string({ error: (i) => (i.input === undefined ? m.required(what) : m.notText(what)) }).trim();

const nonEmpty = (what: string) => text(what).min(1, { error: m.required(what), abort: true });

const httpsUrl = (what: string) =>
  nonEmpty(what)
    .refine((v) => /^https:\/\/[^/\s]+/i.test(v), { error: m.notHttps(what) })
    .transform((v) => v.replace(/\/+$/, ''));

const tenantId = nonEmpty('the directory (tenant) ID, a GUID or verified domain')
  .refine((v) => !META_TENANTS.has(v.toLowerCase()), {
    error: (i) => m.metaTenant(String(i.input)),
    abort: true,
  })
  .refine((v) => META_TENANTS.has(v.toLowerCase()) || GUID.test(v) || DOMAIN.test(v), {
    error: m.notGuid('the directory (tenant) ID'),
  });

/**
 * A number of seconds above 0 and at most `max`. Every duration is bounded: the daemon hands it to
 * a timer, and a value far beyond what the setting means is a mistake to report, not to run.
 */
const seconds = (what: string, max: number, tooLong: string) =>
  z
    .number({ error: m.notPositive(what) })
    .positive({ error: m.notPositive(what), abort: true })
    .max(max, { error: tooLong });

/**
 * The shortest `intervalSeconds`, 1 s (cron's finest grain too): below it a typo (`0.001`) runs a
 * worker, and calls its API, hundreds of times a second.
 */
export const MIN_INTERVAL_SECONDS = 1;

/**
 * The longest `intervalSeconds`, 7 days: an interval counts from the process's start, so a longer
 * one is reset by restarts (deploys) and may never run; cron follows the calendar instead.
 */
export const MAX_INTERVAL_SECONDS = 7 * 86_400;

/**
 * The longest `shutdownTimeoutSeconds`, an hour: orchestrators kill a stopping process long
 * before (Kubernetes after 30 s by default, systemd after 90 s).
 */
export const MAX_SHUTDOWN_TIMEOUT_SECONDS = 3_600;

const schedule = {
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  credential: nonEmpty('the name of a credential under credentials'),
  // The API the worker calls, by its name under downstreamApis; may be left out when there is one.
  api: nonEmpty('the name of an API under downstreamApis').optional(),
  cron: nonEmpty("a cron expression, e.g. '0 */5 * * * *'")
    .superRefine((v, ctx) => {
      const result = validateCronExpression(v);
      if (!result.valid)
        ctx.addIssue({
          code: 'custom',
          message: m.badCron(v, String(result.error?.message ?? 'invalid')),
        });
    })
    .optional(),
  intervalSeconds: seconds(
    'intervalSeconds, e.g. 30',
    MAX_INTERVAL_SECONDS,
    m.intervalTooLong(MAX_INTERVAL_SECONDS),
  )
    .min(MIN_INTERVAL_SECONDS, { error: m.intervalTooShort(MIN_INTERVAL_SECONDS) })
    .optional(),
  runAtStart: z.boolean({ error: 'must be true or false' }).default(true),
};

const WORKER_TYPES = ['sync', 'poller', 'tenant-sweep', 'agents'] as const;

const worker = z.discriminatedUnion(
  'type',
  [
    section({ type: z.literal('sync'), ...schedule }, 'the worker'),
    section({ type: z.literal('poller'), ...schedule }, 'the worker'),
    section(
      {
        type: z.literal('tenant-sweep'),
        ...schedule,
        tenants: z.array(tenantId, { error: m.noTenants() }).min(1, { error: m.noTenants() }),
      },
      'the worker',
    ),
    section(
      {
        type: z.literal('agents'),
        ...schedule,
        agents: z
          .array(
            nonEmpty(
              "an agent identity: a name of the credential's agentBlueprint.agents, or its app id",
            ),
            {
              error: m.noAgents(),
            },
          )
          .min(1, { error: m.noAgents() }),
      },
      'the worker',
    ),
  ],
  { error: m.unknownWorkerType(WORKER_TYPES) },
);

/** The schema of the daemon's configuration file (after environment overrides). */
export const daemonConfigSchema = section(
  {
    health: section(
      {
        host: nonEmpty('the address to listen on').default('127.0.0.1'),
        port: z
          .number({ error: m.badPort() })
          .int({ error: m.badPort() })
          .min(0, { error: m.badPort() })
          .max(65535, { error: m.badPort() })
          .default(8080),
      },
      'health',
    ).default({ host: '127.0.0.1', port: 8080 }),
    shutdownTimeoutSeconds: seconds(
      'shutdownTimeoutSeconds',
      MAX_SHUTDOWN_TIMEOUT_SECONDS,
      m.shutdownTooLong(MAX_SHUTDOWN_TIMEOUT_SECONDS),
    ).default(10),
    // The one-API shorthand of earlier versions, read as `downstreamApis.api`.
    api: section(
      {
        url: httpsUrl('the base URL of the protected API (the workers GET <url>/data)'),
        scope: nonEmpty("the API's scope, e.g. api://<app-id>/.default").refine(
          // One scope: a list with spaces would end in '/.default' too.
          (v) => v.endsWith('/.default') && !/\s/.test(v),
          { error: m.notScope() },
        ),
        caPath: nonEmpty('a PEM file of extra CAs to trust for the API').optional(),
      },
      'api: its url and scope',
    ).optional(),
    // The named APIs the workers call (the library's downstream API options, plus `caPath`), read
    // by the library's own reader: its messages name `downstreamApis.<name>.<field>`.
    downstreamApis: z
      .record(z.string(), z.unknown(), {
        error: 'must be a mapping of named APIs, e.g. { orders: { baseUrl, scopes } }',
      })
      .optional(),
    // Read by the library's own configuration reader (clientCredentialsOptionsFromConfig): the
    // daemon does not keep a second schema of it. Only its names are used here, by the workers.
    credentials: z.record(z.string(), z.unknown(), {
      error: m.required('credentials: one or more named app registrations'),
    }),
    workers: z.record(z.string(), worker, { error: m.required('workers: one or more workers') }),
  },
  'the configuration',
).superRefine((config, ctx) => {
  const names = Object.keys(config.credentials);
  const apis = apiNames(config);
  if (config.api !== undefined && config.downstreamApis?.api !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['api'], message: m.apiTwice() });
  }
  if (apis.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['downstreamApis'], message: m.noApis() });
  }
  let enabled = 0;
  for (const [name, w] of Object.entries(config.workers)) {
    if ((w.cron === undefined) === (w.intervalSeconds === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['workers', name], message: m.oneSchedule() });
    }
    if (!names.includes(w.credential)) {
      ctx.addIssue({
        code: 'custom',
        path: ['workers', name, 'credential'],
        message: m.unknownCredential(w.credential, names),
      });
    } else if (w.type === 'agents' && !isBlueprint(config.credentials[w.credential])) {
      ctx.addIssue({
        code: 'custom',
        path: ['workers', name, 'credential'],
        message: m.notBlueprint(w.credential),
      });
    }
    if (w.api === undefined ? apis.length > 1 : !apis.includes(w.api)) {
      ctx.addIssue({
        code: 'custom',
        path: ['workers', name, 'api'],
        message: w.api === undefined ? m.whichApi(apis) : m.unknownApi(w.api, apis),
      });
    }
    if (w.enabled) enabled++;
  }
  if (enabled === 0) ctx.addIssue({ code: 'custom', path: ['workers'], message: m.noWorkers() });
});

/** Whether a configured credential is an agent identity blueprint (`agentBlueprint` set). */
function isBlueprint(credential: unknown): boolean {
  const blueprint = (credential as { agentBlueprint?: unknown } | null)?.agentBlueprint;
  return blueprint !== undefined && blueprint !== false;
}

/** Names of the configured APIs: `downstreamApis`' and `api` (the shorthand) as `api`. */
export function apiNames(config: {
  api?: unknown;
  downstreamApis?: Record<string, unknown>;
}): string[] {
  const names = Object.keys(config.downstreamApis ?? {});
  return config.api === undefined || names.includes('api') ? names : [...names, 'api'];
}

/** The daemon's configuration as its schema validated it. */
export type DaemonConfigDocument = z.output<typeof daemonConfigSchema>;

/** The daemon's validated configuration, with the library's options read from it. */
export type DaemonConfig = Omit<DaemonConfigDocument, 'downstreamApis'> & {
  /** The `ClientCredentialsModule` options, from the library's configuration reader. */
  clientCredentials: ClientCredentialsModuleOptions;
  /**
   * The `DownstreamApiModule` APIs, from the library's reader: `downstreamApis` (each `caPath`
   * read into `ca` at load time, so that a bad path is a configuration problem) and `api` as
   * `api`. Every worker's `api` names one of them.
   */
  downstreamApis: Record<string, DownstreamApiOptions>;
};
/** One worker of {@link DaemonConfig}. */
export type WorkerConfig = DaemonConfig['workers'][string];
