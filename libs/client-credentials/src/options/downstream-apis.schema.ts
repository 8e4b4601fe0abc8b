import { z } from 'zod';
import { describeIssue, formatPath } from './option-problems';

// The schema of named downstream APIs lives with the other options' schemas, below the
// downstream-api entry: `clientCredentialsOptionsFromConfig` checks a document's `downstreamApis`
// with it too, so that its problems are in the same one start-up error as the credentials'.

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
 * The validated APIs of `apis` (a `downstreamApis` section), or every problem of it, each naming
 * its path (`downstreamApis.orders.baseUrl`) and how to fix it.
 */
export function checkDownstreamApis(
  apis: unknown,
  path = 'downstreamApis',
): { apis?: z.output<typeof downstreamApisSchema>; problems: string[] } {
  const parsed = downstreamApisSchema.safeParse(apis ?? {});
  if (parsed.success) return { apis: parsed.data, problems: [] };
  return {
    // Worded like the module options' own: zod's default names the key but not the fix.
    problems: parsed.error.issues.map((i) => describeIssue(i, apis ?? {}, [], [path])),
  };
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
