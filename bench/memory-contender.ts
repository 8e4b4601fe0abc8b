/**
 * msal-node's heap per cached token, in its own process (run with --expose-gc), for the memory
 * table next to this library's (measured in contender.ts). Its cache is filled the way an app
 * restores a persisted msal cache — `getTokenCache().deserialize()` — with entries shaped like the
 * real token it first fetched (distinct tokens of the same length), because fetching 100,000 real
 * tokens through msal's linear cache lookup would take hours.
 */
import { ConfidentialClientApplication } from '@azure/msal-node';
import { contenderMain } from './support';

export interface MsalMemoryInput {
  kind: 'msal';
  authorityUrl: string;
  tenantId: string;
  clientId: string;
  secret: string;
  sizes: number[];
  /** Scopes are `${scopePrefix}<i>/.default`; the first is registered at the authority. */
  scopePrefix: string;
}

export interface MsalMemoryResult {
  kind: 'msal';
  tokenLength: number;
  bytesPerToken: Record<number, number>;
}

interface AccessTokenEntity {
  target: string;
  secret: string;
  [field: string]: unknown;
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the contender with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function run(input: MsalMemoryInput): Promise<MsalMemoryResult> {
  const base = `${input.authorityUrl}/${input.tenantId}`;
  const cca = new ConfidentialClientApplication({
    auth: {
      clientId: input.clientId,
      authority: base,
      clientSecret: input.secret,
      knownAuthorities: [new URL(input.authorityUrl).host],
      authorityMetadata: JSON.stringify({
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      }),
    },
  });
  const scope = (i: number) => `${input.scopePrefix}${i}/.default`;
  await cca.acquireTokenByClientCredential({ scopes: [scope(0)] });
  const cache = cca.getTokenCache();
  const snapshot = JSON.parse(cache.serialize()) as {
    AccessToken: Record<string, AccessTokenEntity>;
  };
  const [[firstKey, first]] = Object.entries(snapshot.AccessToken);
  const result: MsalMemoryResult = {
    kind: 'msal',
    tokenLength: first.secret.length,
    bytesPerToken: {},
  };
  const baseHeap = heapUsed();
  // Built in a function of its own: only msal's deserialised copy is alive when the heap is read.
  const serialized = (size: number) => {
    const all: Record<string, AccessTokenEntity> = {};
    for (let i = 0; i < size; i++) {
      const mark = i.toString(36).padStart(8, '0');
      const target = scope(i);
      all[firstKey.replace(first.target.toLowerCase(), target.toLowerCase())] = {
        ...first,
        target,
        secret: i === 0 ? first.secret : first.secret.slice(0, -mark.length) + mark,
      };
    }
    return JSON.stringify({ ...snapshot, AccessToken: all });
  };
  for (const size of input.sizes) {
    cache.deserialize(serialized(size));
    // msal keeps the JSON it restored from (to merge on its next serialize): an empty one drops it
    // and leaves the in-memory cache as it is, so only msal's working copy is measured.
    cache.deserialize('');
    const hit = await cca.acquireTokenByClientCredential({ scopes: [scope(size - 1)] });
    if (hit?.fromCache !== true) throw new Error('msal-node did not serve a restored token');
    result.bytesPerToken[size] = (heapUsed() - baseHeap) / (size - 1);
  }
  return result;
}

if (require.main === module) contenderMain(run);
