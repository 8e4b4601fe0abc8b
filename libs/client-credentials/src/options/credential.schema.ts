/* The schema of a credential and its sources; options.schema.ts holds the module's. */
import { z } from 'zod';
import { DEFAULTS } from './defaults';
import { managedIdentityId } from './managed-identity-name';
import { tenantProblem } from './request-validation';

const nonEmpty = (what: string, fix: string) =>
  z
    .string({
      error: (i) => (i.input === undefined ? `is required — ${fix}` : `must be a string — ${fix}`),
    })
    .trim()
    .min(1, { error: `must not be empty — ${what}` });

const pemLike = z.string().refine((v) => v.includes('-----BEGIN '), {
  error: 'must be PEM text (-----BEGIN …) — pass the file contents, not a path',
});

const secretSource = z.strictObject({
  type: z.literal('secret'),
  secret: nonEmpty('set the client secret value', 'set the client secret value (not its ID)'),
});

const optionalText = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty — set a value or leave the field out' });

const certificateSource = z
  .strictObject({
    type: z.literal('certificate'),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    privateKey: pemLike.optional(),
    passphrase: z.string().optional(),
    sendX5c: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .refine((s) => s.certificatePath !== undefined || s.certificate !== undefined, {
    error:
      'needs `certificatePath` (a PEM file with certificate and key) or `certificate` + `privateKey`',
  });

const assertionSource = z.strictObject({
  type: z.literal('assertion'),
  getAssertion: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', {
    error: 'must be a function returning the client assertion (a JWT)',
  }),
});

const signerFields = {
  algorithm: z
    .enum(['PS256', 'RS256', 'ES256'], { error: "must be 'PS256', 'RS256' or 'ES256'" })
    .optional(),
  sendX5c: z.boolean({ error: 'must be true or false' }).optional(),
};

const signerSource = z.strictObject({
  type: z.literal('signer'),
  signer: z.custom<object>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as { sign?: unknown }).sign === 'function' &&
      typeof (v as { getCertificate?: unknown }).getCertificate === 'function',
    { error: 'must be an object with getCertificate() and sign(data, algorithm, { signal })' },
  ),
  ...signerFields,
});

const oneOf = (fields: string[], s: Record<string, unknown>) =>
  fields.filter((f) => s[f] !== undefined).length === 1;

const pkcs11Source = z
  .strictObject({
    type: z.literal('pkcs11'),
    modulePath: nonEmpty(
      "set the PKCS#11 module's path",
      "set the PKCS#11 module's path, e.g. /usr/lib/softhsm/libsofthsm2.so",
    ),
    tokenLabel: optionalText.optional(),
    slot: z.number({ error: 'must be a slot id (a number)' }).int().min(0).optional(),
    keyLabel: optionalText.optional(),
    keyId: z
      .string({ error: 'must be a string' })
      .regex(/^([0-9a-fA-F]{2})+$/, { error: 'must be the CKA_ID in hex, e.g. "01a2"' })
      .optional(),
    pinFile: optionalText.optional(),
    pinEnv: optionalText.optional(),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    ...signerFields,
  })
  .refine((s) => oneOf(['tokenLabel', 'slot'], s), {
    error: 'names its token by one of `tokenLabel` or `slot`',
  })
  .refine((s) => oneOf(['keyLabel', 'keyId'], s), {
    error: 'names its key by one of `keyLabel` or `keyId`',
  })
  .refine((s) => oneOf(['pinFile', 'pinEnv'], s), {
    error:
      'takes the user PIN from one of `pinFile` (a file) or `pinEnv` (an environment variable)',
  })
  .refine((s) => s.certificatePath === undefined || s.certificate === undefined, {
    error: 'takes `certificatePath` or `certificate`, not both',
  });

const keyVaultKeyId = z
  .string({
    error: 'is required — the key identifier, https://<vault>.vault.azure.net/keys/<name>',
  })
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        const parts = u.pathname.split('/').filter(Boolean);
        return (
          u.protocol === 'https:' &&
          !u.search &&
          !u.username &&
          parts[0] === 'keys' &&
          (parts.length === 2 || parts.length === 3)
        );
      } catch {
        return false;
      }
    },
    {
      error:
        'must be a key identifier, https://<vault>.vault.azure.net/keys/<name> or …/keys/<name>/<version>',
    },
  );

const keyVaultSource = z
  .strictObject({
    type: z.literal('key-vault'),
    keyId: keyVaultKeyId,
    credential: nonEmpty(
      'name the credential whose tokens the vault accepts',
      'name the credential (of this module) whose tokens the vault accepts, e.g. a managed identity',
    ),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    ca: z.union([pemLike, z.array(pemLike)]).optional(),
    disableChallengeResourceVerification: z.boolean({ error: 'must be true or false' }).optional(),
    ...signerFields,
  })
  .refine((s) => oneOf(['certificatePath', 'certificate'], s), {
    error:
      "needs the key's certificate: `certificatePath` (a PEM file, e.g. az keyvault certificate download --encoding PEM) or `certificate`",
  });

const workloadIdentitySource = z.strictObject({
  type: z.literal('workload-identity'),
  tokenFilePath: optionalText.optional(),
});

const managedIdentityAssertionSource = z.strictObject({
  type: z.literal('managed-identity-assertion'),
  managedIdentityClientId: optionalText.optional(),
  audience: optionalText.optional(),
});

const managedIdentitySource = z
  .strictObject({
    type: z.literal('managed-identity'),
    clientId: optionalText.optional(),
    resourceId: optionalText.optional(),
    objectId: optionalText.optional(),
  })
  .refine((s) => [s.clientId, s.resourceId, s.objectId].filter(Boolean).length <= 1, {
    error:
      'names a user-assigned identity by one of `clientId`, `resourceId` or `objectId`, not several',
  });

/** The source types, in the words of error messages. */
export const SOURCE_TYPES =
  "'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'";

const source = z.discriminatedUnion(
  'type',
  [
    secretSource,
    certificateSource,
    assertionSource,
    signerSource,
    pkcs11Source,
    keyVaultSource,
    workloadIdentitySource,
    managedIdentityAssertionSource,
    managedIdentitySource,
  ],
  {
    error: (i) =>
      i.code === 'invalid_union' ? `has an unknown \`type\` — use ${SOURCE_TYPES}` : undefined,
  },
);

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
    sources: z.array(source, { error: 'must be an array of credential sources' }).min(1, {
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
    if (c.clientId !== undefined && /\s/.test(c.clientId)) {
      ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'must not contain spaces' });
    }
  });

/** A problem found across credentials, in zod's issue shape. */
interface CrossIssue {
  code: 'custom';
  path: (string | number)[];
  message: string;
}

/**
 * A `key-vault` source names the credential whose tokens its vault takes: it must be another
 * configured credential, and no chain of them may lead back (each would wait for the other's
 * token until its deadline).
 */
export function keyVaultProblems(
  credentials: Record<string, { sources: readonly { type: string; credential?: string }[] }>,
): CrossIssue[] {
  const names = Object.keys(credentials);
  const uses = (name: string) =>
    (credentials[name]?.sources ?? []).flatMap((s) =>
      s.type === 'key-vault' && s.credential !== undefined ? [s.credential] : [],
    );
  const issues: CrossIssue[] = [];
  for (const name of names) {
    credentials[name].sources.forEach((s, i) => {
      if (s.type !== 'key-vault' || s.credential === undefined) return;
      const path = ['credentials', name, 'sources', i, 'credential'];
      if (!names.includes(s.credential)) {
        issues.push({
          code: 'custom',
          path,
          message: `'${s.credential}' is not a configured credential — name the credential whose tokens the vault accepts (one of: ${names.join(', ')})`,
        });
        return;
      }
      // Depth-first from the named credential: does any path come back here?
      const seen = new Set<string>();
      const stack = [s.credential];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (next === name) {
          issues.push({
            code: 'custom',
            path,
            message: `'${s.credential}' gets its own vault tokens through '${name}' (directly or by a chain): each would wait for the other — give the vault a credential that signs no assertion with a vault key, a managed identity typically`,
          });
          return;
        }
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...uses(next));
      }
    });
  }
  return issues;
}
