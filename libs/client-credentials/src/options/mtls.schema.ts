/* The `mtls` option of a credential (RFC 8705, Entra mTLS PoP): its schema, its checks against the
 * rest of the credential, and where Entra's mTLS token endpoint is. */
import { z } from 'zod';

/** The hosts of Entra's public cloud (MSAL's public environment aliases). */
const PUBLIC_CLOUD: ReadonlySet<string> = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
]);

/** Entra's mTLS endpoint of the public cloud (MSAL .NET's `PublicEnvForRegionalMtlsAuth`). */
export const PUBLIC_MTLS_HOST = 'mtlsauth.microsoft.com';

/** Clouds where Entra offers no mTLS PoP, and what to do (MSAL .NET refuses them alike). */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  'login.usgovcloudapi.net':
    "has no mTLS endpoint — use authorityHost 'https://login.microsoftonline.us' for Azure Government",
  // Azure China's former host; its current one maps as any `login.X` (MSAL .NET alike).
  'login.chinacloudapi.cn':
    "has no mTLS endpoint — use authorityHost 'https://login.partner.microsoftonline.cn' for Azure China (its mTLS host is mtlsauth.partner.microsoftonline.cn)",
};

/** An Azure region's short name: letters and digits only, as MSAL .NET checks it. */
const REGION = /^[A-Za-z0-9]{1,40}$/;

/** The zod schema of `credentials.<name>.mtls`. */
export const mtlsSchema = z.union(
  [
    z.boolean(),
    z.strictObject({
      region: z
        .string({ error: 'must be a string' })
        .regex(REGION, {
          error: "must be an Azure region's short name, letters and digits, e.g. 'westeurope'",
        })
        .optional(),
      authorityHost: z
        .string({ error: 'must be a string' })
        .refine(isHttpsOrigin, {
          error: 'must be an https URL of a host, without path, query or credentials',
        })
        .optional(),
    }),
  ],
  { error: 'must be true, or { region?: string, authorityHost?: https URL }' },
);

type Mtls = z.infer<typeof mtlsSchema>;

/** What the checks read of a credential. */
interface MtlsCredential {
  readonly protocol?: 'entra' | 'oidc';
  readonly authorityHost?: string;
  readonly dpop?: unknown;
  readonly agentBlueprint?: unknown;
  readonly mtls?: Mtls;
  readonly sources: readonly { readonly type: string; readonly sendX5c?: boolean }[];
}

/**
 * What is wrong with a credential's `mtls` option, as `[path, message]` pairs relative to the
 * credential (none when it is fine or not set).
 */
export function mtlsProblems(c: MtlsCredential): [(string | number)[], string][] {
  if (c.mtls === undefined || c.mtls === false) return [];
  const problems: [(string | number)[], string][] = [];
  const options = c.mtls === true ? {} : c.mtls;
  if (c.dpop !== undefined && c.dpop !== false) {
    problems.push([
      ['mtls'],
      'takes one binding, not two: keep `dpop` (a key) or `mtls` (the certificate)',
    ]);
  }
  if (c.agentBlueprint !== undefined && c.agentBlueprint !== false) {
    // An agent's tokens are asked with the blueprint's token as the client assertion.
    problems.push([
      ['mtls'],
      "cannot bind an agent identity blueprint's agents' tokens to its certificate (their requests authenticate with the blueprint's token) — remove `mtls`",
    ]);
  }
  c.sources.forEach((s, i) => {
    if (s.type !== 'certificate') {
      problems.push([
        ['sources', i],
        `is a '${s.type}' source: with \`mtls\`, only a certificate whose key the process holds can authenticate in the TLS handshake — use 'certificate' sources or remove \`mtls\``,
      ]);
    } else if ((c.protocol ?? 'entra') === 'entra' && s.sendX5c !== true) {
      problems.push([
        ['sources', i, 'sendX5c'],
        'must be true with `mtls` for Entra ID: its mTLS proof of possession takes subject name + issuer (SN+I) certificates',
      ]);
    }
  });
  if (c.protocol === 'oidc') {
    for (const field of ['region', 'authorityHost'] as const) {
      if (options[field] !== undefined) {
        problems.push([
          ['mtls', field],
          'is for Entra ID: an OIDC issuer names its mTLS token endpoint in its discovery document (mtls_endpoint_aliases) — remove it',
        ]);
      }
    }
    return problems;
  }
  if (options.region !== undefined && options.authorityHost !== undefined) {
    problems.push([
      ['mtls', 'region'],
      "takes `region` or `authorityHost`, not both — a region names a host of Entra's own",
    ]);
  }
  const where = entraMtlsOrigin(c.authorityHost ?? 'https://login.microsoftonline.com', options);
  if ('problem' in where) problems.push([where.path, where.problem]);
  return problems;
}

/**
 * The origin of Entra's mTLS token endpoint for `authorityHost` (as MSAL .NET's
 * RegionAndMtlsDiscoveryProvider derives it): `mtlsauth.microsoft.com` for the public cloud,
 * `mtlsauth.X` for another cloud's `login.X`, prefixed by the region when one is set; or the
 * `authorityHost` of the option. A host it cannot derive (not `login.…`) is a problem to report.
 */
export function entraMtlsOrigin(
  authorityHost: string,
  options: { region?: string; authorityHost?: string },
): { origin: string } | { path: string[]; problem: string } {
  if (options.authorityHost !== undefined) {
    return { origin: new URL(options.authorityHost).origin };
  }
  let host: string;
  try {
    host = new URL(authorityHost).host.toLowerCase();
  } catch {
    // authorityHost reports its own problem.
    return { origin: authorityHost };
  }
  const region = options.region === undefined ? '' : `${options.region.toLowerCase()}.`;
  const unsupported = UNSUPPORTED[host];
  if (unsupported !== undefined) {
    return { path: ['authorityHost'], problem: `${unsupported} (with \`mtls\`)` };
  }
  if (PUBLIC_CLOUD.has(host)) return { origin: `https://${region}${PUBLIC_MTLS_HOST}` };
  if (host.startsWith('login.')) {
    return { origin: `https://${region}mtlsauth.${host.slice('login.'.length)}` };
  }
  return {
    path: ['mtls'],
    problem: `cannot derive the mTLS token endpoint of '${host}' (Entra's hosts start with 'login.') — set mtls: { authorityHost: 'https://…' }`,
  };
}

function isHttpsOrigin(v: string): boolean {
  try {
    const u = new URL(v);
    return (
      u.protocol === 'https:' &&
      (u.pathname === '/' || u.pathname === '') &&
      !u.search &&
      !u.hash &&
      !u.username &&
      !u.password
    );
  } catch {
    return false;
  }
}
