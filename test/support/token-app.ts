import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { DevAuthority } from '@app/dev-authority';
import {
  ClientCredentialsModule,
  CredentialOptions,
  CredentialSource,
  ManagedIdentitySourceOptions,
  TokenService,
} from '@app/client-credentials';
import { CapturingLogger } from './capturing-logger';
import { AuthorityHttp } from './dev-authority-client';

/** A real Nest application context with the module, as a user's app would have it. */
export interface TokenApp {
  app: INestApplicationContext;
  tokens: TokenService;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/** The local authority as a credential sees it: its host, and the CA to trust. */
type LocalAuthority = Pick<DevAuthority, 'url' | 'caPem'>;

/**
 * A credential of an app registered at the local authority, trusting its CA. Other options go on
 * top: `{ ...localCredential(…), proxy }`.
 */
export function localCredential(
  authority: LocalAuthority,
  tenantId: string | undefined,
  clientId: string | undefined,
  sources: CredentialSource[],
): CredentialOptions {
  return { tenantId, clientId, authorityHost: authority.url, ca: authority.caPem, sources };
}

/**
 * A managed identity credential at the local authority, trusting its CA: the system-assigned one,
 * or the user-assigned one `source` names. Which endpoint answers is the environment's choice
 * (App Service, IMDS, Arc).
 */
export function localManagedIdentity(
  authority: LocalAuthority,
  source: Omit<ManagedIdentitySourceOptions, 'type'> = {},
): CredentialOptions {
  return {
    authorityHost: authority.url,
    ca: authority.caPem,
    sources: [{ type: 'managed-identity', ...source }],
  };
}

/** What `ClientCredentialsModule.forRoot` takes: the module's options, and `isGlobal`. */
type ForRootOptions = Parameters<typeof ClientCredentialsModule.forRoot>[0];

/**
 * Builds and initialises an app with `ClientCredentialsModule.forRoot(options)` (a capturing
 * logger unless `options` has one) and the other modules of `imports`, e.g. a downstream API.
 */
export async function startTokenApp(
  options: ForRootOptions,
  imports: DynamicModule[] = [],
): Promise<TokenApp> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [ClientCredentialsModule.forRoot({ logger, ...options }), ...imports],
  }).compile();
  const app = await moduleRef.init();
  return { app, tokens: app.get(TokenService), logger, close: () => app.close() };
}

/** Calls the dev authority's protected API with a bearer token; resolves to the HTTP status. */
export async function callApi(apiUrl: string, ca: string, authorization: string): Promise<number> {
  const http = new AuthorityHttp({ caPem: ca });
  try {
    return (await http.get(`${apiUrl}/data`, { authorization })).status;
  } finally {
    await http.close();
  }
}
