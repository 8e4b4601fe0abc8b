/**
 * The contenders of `npm run bench`, as one small interface: this library (its authority trusted
 * through the credential's `ca` option, or process-wide through NODE_EXTRA_CA_CERTS), raw msal-node
 * `ConfidentialClientApplication` (one per tenant, `authorityMetadata` + `knownAuthorities`: no
 * discovery request), and @azure/identity's credentials. Each runs in a process of its own.
 */
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  type TokenCredential,
} from '@azure/identity';
import { ConfidentialClientApplication, type Configuration } from '@azure/msal-node';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Cache } from 'cache-manager';
import {
  ClientCredentialsModule,
  TokenService,
  type CredentialSource,
} from '../libs/client-credentials/src';

/** Which contender: `ours-ca` trusts the authority through `ca`, the others through the environment. */
export type ContenderKind = 'ours-ca' | 'ours' | 'msal' | 'identity';

/** Labels of the contenders in the output tables. */
export const CONTENDER_LABELS: Record<ContenderKind | 'floor', string> = {
  floor: 'floor (Map.get)',
  'ours-ca': 'this library, `ca` option',
  ours: 'this library, NODE_EXTRA_CA_CERTS',
  msal: 'msal-node `ConfidentialClientApplication`',
  identity: '@azure/identity',
};

/** How the app proves who it is (a multi-tenant app: the same credential in every tenant). */
export type BenchSecret =
  | { type: 'secret'; secret: string }
  | {
      type: 'certificate';
      certificatePem: string;
      privateKeyPem: string;
      thumbprintSha256: string;
    };

/** Everything a contender process needs to build its client. */
export interface ClientConfig {
  kind: ContenderKind;
  authorityUrl: string;
  /** PEM of the authority's CA (only `ours-ca` uses it: the others get NODE_EXTRA_CA_CERTS). */
  caPem: string;
  /** The app's home tenant: the default tenant of its tokens. */
  tenantId: string;
  clientId: string;
  credential: BenchSecret;
  /** Only for ours: a cache-manager `Cache` behind the index (the memory bench pre-fills one). */
  store?: Cache;
  maxEntries?: number;
  /** Only for ours: the background refresh spread (the storm wants 0). */
  jitter?: number;
}

/** What one call tells the bench. */
export interface CallResult {
  /** Answered from the cache (undefined where the client does not say: @azure/identity). */
  fromCache?: boolean;
  /** When the client will refresh the token, epoch ms, where it says. */
  refreshOn?: number;
}

/** A contender's client: one token per call. */
export interface BenchClient {
  get(scope: string, tenantId?: string): Promise<CallResult>;
  /** Ours only: failed token requests by error code (background refreshes included). */
  failures?(): Record<string, number>;
  /** Ours only: the service (the memory bench reads its entries through it). */
  readonly tokens?: TokenService;
  close(): Promise<void>;
}

/** Builds the client of `config.kind`. */
export async function makeClient(config: ClientConfig): Promise<BenchClient> {
  switch (config.kind) {
    case 'ours-ca':
    case 'ours':
      return ours(config);
    case 'msal':
      return msal(config);
    case 'identity':
      return identity(config);
  }
}

async function ours(config: ClientConfig): Promise<BenchClient> {
  const c = config.credential;
  const source: CredentialSource =
    c.type === 'secret'
      ? { type: 'secret', secret: c.secret }
      : { type: 'certificate', certificate: c.certificatePem, privateKey: c.privateKeyPem };
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        credentials: {
          bench: {
            tenantId: config.tenantId,
            clientId: config.clientId,
            authorityHost: config.authorityUrl,
            ca: config.kind === 'ours-ca' ? config.caPem : undefined,
            sources: [source],
          },
        },
        cache: { maxEntries: config.maxEntries ?? 20_000, store: config.store },
        refresh: config.jitter === undefined ? undefined : { jitter: config.jitter },
        logger: { log() {}, error() {}, warn() {}, debug() {} },
      }),
    ],
  }).compile();
  const app: INestApplicationContext = await moduleRef.init();
  const tokens = app.get(TokenService);
  return {
    tokens,
    async get(scope, tenantId) {
      const t = await tokens.getAccessToken(scope, tenantId ? { tenantId } : undefined);
      return { fromCache: t.source === 'cache', refreshOn: t.refreshOnTimestamp };
    },
    failures: () => ({ ...tokens.getStats().failures }),
    close: () => app.close(),
  };
}

/** msal-node as its docs show it for a daemon, one application object per tenant. */
function msal(config: ClientConfig): BenchClient {
  const host = new URL(config.authorityUrl).host;
  const apps = new Map<string, ConfidentialClientApplication>();
  const c = config.credential;
  const app = (tenantId: string) => {
    let cca = apps.get(tenantId);
    if (cca === undefined) {
      const base = `${config.authorityUrl}/${tenantId}`;
      const auth: Configuration['auth'] = {
        clientId: config.clientId,
        authority: base,
        knownAuthorities: [host],
        // No discovery request: the metadata msal would otherwise fetch once per application.
        authorityMetadata: JSON.stringify({
          issuer: `${base}/v2.0`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/oauth2/v2.0/token`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        }),
      };
      if (c.type === 'secret') auth.clientSecret = c.secret;
      else {
        auth.clientCertificate = {
          thumbprintSha256: c.thumbprintSha256,
          privateKey: c.privateKeyPem,
        };
      }
      apps.set(tenantId, (cca = new ConfidentialClientApplication({ auth })));
    }
    return cca;
  };
  return {
    async get(scope, tenantId) {
      const r = await app(tenantId ?? config.tenantId).acquireTokenByClientCredential({
        scopes: [scope],
      });
      if (r === null) throw new Error('msal-node returned no token');
      return { fromCache: r.fromCache, refreshOn: r.refreshOn?.getTime() };
    },
    close: async () => undefined,
  };
}

/** @azure/identity's credential of the kind, any tenant allowed (`getToken(…, { tenantId })`). */
function identity(config: ClientConfig): BenchClient {
  const c = config.credential;
  const options = {
    authorityHost: config.authorityUrl,
    disableInstanceDiscovery: true,
    additionallyAllowedTenants: ['*'],
  };
  const cred: TokenCredential =
    c.type === 'secret'
      ? new ClientSecretCredential(config.tenantId, config.clientId, c.secret, options)
      : new ClientCertificateCredential(
          config.tenantId,
          config.clientId,
          { certificate: `${c.certificatePem}\n${c.privateKeyPem}` },
          options,
        );
  return {
    async get(scope, tenantId) {
      const t = await cred.getToken(scope, tenantId ? { tenantId } : undefined);
      if (t === null) throw new Error('@azure/identity returned no token');
      return { refreshOn: t.refreshAfterTimestamp };
    },
    close: async () => undefined,
  };
}
