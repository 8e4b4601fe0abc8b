/* The schema of a credential; source.schema.ts holds its sources', options.schema.ts the module's. */
import { z } from 'zod';
import { DEFAULTS } from './defaults';
import { managedIdentityId } from './managed-identity-name';
import { mtlsProblems, mtlsSchema } from './mtls.schema';
import { tenantProblem } from './request-validation';
import { nonEmpty, pemLike } from './schema-fields';
import { sourceSchema } from './source.schema';
import { parameterProblems } from './token-request-parameters';

/**
 * A tenant pasted into an Entra authority host (`https://login.microsoftonline.com/<tenant>`, or
 * its `/oauth2/v2.0/token` path): the part that does not belong there, if any. The host is joined
 * with the tenant, so such a URL would only fail at the first token request, with an HTTP 404.
 */
function tenantInPath(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined; // reported by httpsUrl
  }
  return path
    .split('/')
    .find(
      (segment) =>
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(segment) ||
        /^(common|organizations|consumers|oauth2|v2\.0)$/i.test(segment) ||
        /\.onmicrosoft\.com$/i.test(segment),
    );
}

const httpsUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' && !u.search && !u.hash && !u.username && !u.password;
    } catch {
      return false;
    }
  },
  {
    error:
      'must be an https URL without query or credentials, e.g. https://login.microsoftonline.com',
  },
);

// A proxy URL may carry a password: messages never show it.
const proxyUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { error: 'must be an http:// or https:// proxy URL with a host, e.g. http://proxy.corp:3128' },
);

const noProxyList = z
  .array(
    z
      .string({ error: 'must be host names' })
      .regex(/^(\*|\.?[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?)$/, {
        error: "must be host names: 'host', '.domain', 'host:port' or '*'",
      }),
    { error: "must be a list of host names, e.g. ['login.microsoftonline.com']" },
  )
  .optional();

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const agentBlueprint = z.union(
  [
    z.boolean(),
    z.strictObject({
      agents: z
        .record(
          z.string().refine((name) => name.trim() !== '' && !GUID.test(name), {
            error:
              "names an agent by a GUID or an empty string — use a name (the GUID is the value: the agent identity's app id)",
          }),
          z.string({ error: "must be the agent identity's application (client) ID" }).regex(GUID, {
            error: "must be the agent identity's application (client) ID, a GUID",
          }),
          { error: "must map names to agent identities' app ids, e.g. { billing: '<guid>' }" },
        )
        .optional(),
      onlyNamedAgents: z.boolean({ error: 'must be true or false' }).optional(),
      tokenExchangeScope: z
        .string({ error: 'must be a string' })
        .regex(/^[\x21\x23-\x5B\x5D-\x7E]+\/\.default$/, {
          error:
            "must be a '<resource>/.default' scope, e.g. 'api://AzureADTokenExchange/.default'",
        })
        .optional(),
    }),
  ],
  { error: 'must be true or { agents?, onlyNamedAgents?, tokenExchangeScope? }' },
);

/** The zod schema of one credential (`credentials.<name>`) and its sources. */
export const credentialSchema = z
  .strictObject({
    tenantId: nonEmpty('set the directory (tenant) ID', 'set the directory (tenant) ID').optional(),
    clientId: nonEmpty(
      'set the application (client) ID',
      'set the application (client) ID',
    ).optional(),
    authorityHost: httpsUrl.optional(),
    protocol: z.enum(['entra', 'oidc'], { error: "must be 'entra' or 'oidc'" }).optional(),
    issuer: httpsUrl.optional(),
    sources: z.array(sourceSchema, { error: 'must be an array of credential sources' }).min(1, {
      error: "must list at least one source, e.g. [{ type: 'secret', secret: '…' }]",
    }),
    ca: z.union([pemLike, z.array(pemLike)]).optional(),
    proxy: z
      .union(
        [z.literal(false), proxyUrl, z.strictObject({ url: proxyUrl, noProxy: noProxyList })],
        {
          error: "must be a proxy URL ('http://proxy:3128'), { url, noProxy: [hosts] } or false",
        },
      )
      .optional(),
    agentBlueprint: agentBlueprint.optional(),
    tokenRequest: z
      .strictObject(
        {
          parameters: z.record(z.string(), z.unknown()).optional(),
          headers: z.record(z.string(), z.unknown()).optional(),
          customize: z
            .custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', {
              error: 'must be a function returning more form parameters (or nothing)',
            })
            .optional(),
        },
        { error: 'must be { parameters?, headers?, customize? }' },
      )
      .superRefine((t, ctx) => {
        for (const kind of ['parameters', 'headers'] as const) {
          for (const problem of parameterProblems(t[kind], kind)) {
            ctx.addIssue({ code: 'custom', message: problem });
          }
        }
      })
      .optional(),
    dpop: z
      .union(
        [
          z.boolean(),
          z.strictObject({
            algorithm: z
              .enum(['ES256', 'RS256', 'PS256'], { error: "must be 'ES256', 'RS256' or 'PS256'" })
              .optional(),
            privateKey: pemLike.optional(),
          }),
        ],
        { error: "must be true, or { algorithm?: 'ES256' | 'RS256' | 'PS256', privateKey?: PEM }" },
      )
      .optional(),
    mtls: mtlsSchema.optional(),
  })
  .superRefine((c, ctx) => {
    // Only a managed identity is its own app: every other source authenticates an app registration.
    const identityOnly = c.sources.every((s) => s.type === 'managed-identity');
    // One credential name, one principal: a chain's sources are fallbacks for the same identity.
    if (!identityOnly && c.sources.some((s) => s.type === 'managed-identity')) {
      ctx.addIssue({
        code: 'custom',
        path: ['sources'],
        message:
          "mixes 'managed-identity' (the managed identity's own tokens) with app credentials: its tokens would be of two different identities under one name — give the managed identity a credential of its own, or use 'managed-identity-assertion' to sign in as the app",
      });
    }
    const principals = new Set(
      c.sources
        .filter((s) => s.type === 'managed-identity')
        .map((s) => JSON.stringify(managedIdentityId(s))),
    );
    if (principals.size > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['sources'],
        message:
          'names several different managed identities: their tokens would be of different identities under one name — give each a credential of its own',
      });
    }
    // An issuer names its realm whole (it may have no path at all): no host + tenant to split it into.
    if (c.issuer !== undefined && c.protocol !== 'oidc') {
      ctx.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: "needs protocol: 'oidc' — Entra ID is addressed by authorityHost and tenantId",
      });
    }
    if (c.issuer !== undefined && c.authorityHost !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['authorityHost'],
        message: 'takes `issuer` or `authorityHost`, not both — keep the issuer URL',
      });
    }
    for (const [field, fix] of [
      ['tenantId', 'set the directory (tenant) ID'],
      ['clientId', 'set the application (client) ID'],
    ] as const) {
      if (c[field] === undefined && !identityOnly && !(field === 'tenantId' && c.issuer)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `is required — ${fix}` });
      }
    }
    // An empty tenantId is already reported by its own schema.
    const problem =
      c.tenantId === undefined || c.tenantId === ''
        ? undefined
        : tenantProblem(c.tenantId, c.protocol ?? DEFAULTS.protocol);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tenantId'], message: problem });
    }
    // Entra ID verifies certificate assertions with RSA keys only.
    if ((c.protocol ?? DEFAULTS.protocol) === 'entra') {
      c.sources.forEach((s, i) => {
        if ('algorithm' in s && s.algorithm === 'ES256') {
          ctx.addIssue({
            code: 'custom',
            path: ['sources', i, 'algorithm'],
            message:
              "ES256 is not accepted by Entra ID, which takes RSA keys (PS256 or RS256) — use an RSA key, or protocol: 'oidc' for an issuer that takes ES256",
          });
        }
      });
    }
    const pasted = c.authorityHost && tenantInPath(c.authorityHost);
    if (pasted && (c.protocol ?? DEFAULTS.protocol) === 'entra') {
      ctx.addIssue({
        code: 'custom',
        path: ['authorityHost'],
        message: `is the host only, without '${pasted}' in its path — put the tenant in tenantId, e.g. authorityHost: 'https://login.microsoftonline.com'`,
      });
    }
    if (c.agentBlueprint !== undefined && c.agentBlueprint !== false) {
      // An agent identity blueprint is an Entra app registration: its agents are Entra's.
      if (c.protocol === 'oidc') {
        ctx.addIssue({
          code: 'custom',
          path: ['agentBlueprint'],
          message: "needs protocol 'entra' — agent identities are Microsoft Entra Agent ID's",
        });
      }
      if (c.sources.some((s) => s.type === 'managed-identity')) {
        ctx.addIssue({
          code: 'custom',
          path: ['agentBlueprint'],
          message:
            "is an app registration, not a managed identity — authenticate the blueprint with a certificate, 'managed-identity-assertion' (the identity as its federated credential) or, for local work, a secret",
        });
      }
    }
    if (c.tokenRequest !== undefined && identityOnly) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenRequest'],
        message:
          'is for token endpoints: a managed identity credential calls none — remove it, or use a managed-identity-assertion source of an app',
      });
    }
    // Entra ID binds no client-credentials token to a DPoP key; a managed identity endpoint takes no proof.
    if (c.dpop !== undefined && c.dpop !== false && c.protocol !== 'oidc') {
      ctx.addIssue({
        code: 'custom',
        path: ['dpop'],
        message:
          "needs protocol: 'oidc' — Entra ID issues no DPoP-bound tokens to client credentials; remove `dpop` for Entra",
      });
    } else if (c.dpop !== undefined && c.dpop !== false && identityOnly) {
      ctx.addIssue({
        code: 'custom',
        path: ['dpop'],
        message: 'cannot bind managed identity tokens to a key — remove `dpop`',
      });
    }
    if (c.mtls !== undefined && c.mtls !== false && identityOnly) {
      ctx.addIssue({
        code: 'custom',
        path: ['mtls'],
        message: 'cannot bind managed identity tokens to a certificate — remove `mtls`',
      });
    } else {
      for (const [path, message] of mtlsProblems(c))
        ctx.addIssue({ code: 'custom', path, message });
    }
    if (c.clientId !== undefined && /\s/.test(c.clientId)) {
      ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'must not contain spaces' });
    }
  });
