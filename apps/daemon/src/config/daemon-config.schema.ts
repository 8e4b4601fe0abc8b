import { validateCronExpression } from 'cron';
import { z } from 'zod';
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

const positive = (what: string) =>
  z.number({ error: m.notPositive(what) }).positive({ error: m.notPositive(what) });

const secretSource = section(
  {
    type: z.literal('secret'),
    secret: nonEmpty("the client secret's value, e.g. secret: ${CLIENT_SECRET}"),
  },
  'the source',
);

const certificateSource = section(
  {
    type: z.literal('certificate'),
    certificatePath: nonEmpty('the path of a PEM file holding the certificate and its private key'),
    passphrase: text('the private key passphrase').optional(),
    sendX5c: z.boolean({ error: 'must be true or false' }).optional(),
  },
  'the source',
);

const workloadIdentitySource = section(
  {
    type: z.literal('workload-identity'),
    tokenFilePath: nonEmpty(
      'the federated token file, e.g. tokenFilePath: ${AZURE_FEDERATED_TOKEN_FILE}',
    ).optional(),
  },
  'the source',
);

const managedIdentityAssertionSource = section(
  {
    type: z.literal('managed-identity-assertion'),
    managedIdentityClientId: nonEmpty(
      'the client ID of a user-assigned managed identity (omit it for the system-assigned one)',
    ).optional(),
  },
  'the source',
);

const managedIdentitySource = section(
  {
    type: z.literal('managed-identity'),
    clientId: nonEmpty(
      'the client ID of a user-assigned managed identity (omit it for the system-assigned one)',
    ).optional(),
  },
  'the source',
);

const SOURCE_TYPES = [
  'secret',
  'certificate',
  'workload-identity',
  'managed-identity-assertion',
  'managed-identity',
] as const;

const source = z.discriminatedUnion(
  'type',
  [
    secretSource,
    certificateSource,
    workloadIdentitySource,
    managedIdentityAssertionSource,
    managedIdentitySource,
  ],
  { error: m.unknownSourceType(SOURCE_TYPES) },
);

const credential = section(
  {
    // Optional only for a credential made of managed-identity sources (checked below).
    tenantId: tenantId.optional(),
    clientId: nonEmpty('the application (client) ID of the app registration')
      .refine((v) => GUID.test(v), { error: m.notGuid('the application (client) ID') })
      .optional(),
    authorityHost: httpsUrl(
      'the authority host, e.g. https://login.microsoftonline.com',
    ).optional(),
    caPath: nonEmpty('a PEM file of extra CAs to trust for the authority').optional(),
    sources: z
      .array(source, { error: m.required('sources: a list of one or more credential sources') })
      .min(1, { error: m.required('sources: a list of one or more credential sources') }),
  },
  'the credential',
).superRefine((c, ctx) => {
  if (c.sources.every((s) => s.type === 'managed-identity')) return;
  if (c.tenantId === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['tenantId'],
      message: m.required('the directory (tenant) ID, a GUID or verified domain'),
    });
  }
  if (c.clientId === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['clientId'],
      message: m.required('the application (client) ID of the app registration'),
    });
  }
});

const schedule = {
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  credential: nonEmpty('the name of a credential under credentials'),
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
  intervalSeconds: positive('intervalSeconds, e.g. 30').optional(),
  runAtStart: z.boolean({ error: 'must be true or false' }).default(true),
};

const WORKER_TYPES = ['sync', 'poller', 'tenant-sweep'] as const;

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
    shutdownTimeoutSeconds: positive('shutdownTimeoutSeconds').default(10),
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
    ),
    credentials: z.record(z.string(), credential, {
      error: m.required('credentials: one or more named app registrations'),
    }),
    workers: z.record(z.string(), worker, { error: m.required('workers: one or more workers') }),
  },
  'the configuration',
).superRefine((config, ctx) => {
  const names = Object.keys(config.credentials);
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
    }
    if (w.enabled) enabled++;
  }
  if (enabled === 0) ctx.addIssue({ code: 'custom', path: ['workers'], message: m.noWorkers() });
});

/** The daemon's validated configuration. */
export type DaemonConfig = z.output<typeof daemonConfigSchema>;
/** One credential of {@link DaemonConfig}. */
export type CredentialConfig = DaemonConfig['credentials'][string];
/** One worker of {@link DaemonConfig}. */
export type WorkerConfig = DaemonConfig['workers'][string];
/** One credential source of {@link DaemonConfig}. */
export type SourceConfig = CredentialConfig['sources'][number];
