import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { DevAuthority } from '@app/dev-authority';
import {
  ClientCredentialsModule,
  ClientCredentialsModuleOptions,
  CredentialOptions,
  CredentialSource,
  TokenService,
} from '@app/client-credentials';
import { CapturingLogger } from './capturing-logger';

/** A real Nest application context with the module, as a user's app would have it. */
export interface TokenApp {
  app: INestApplicationContext;
  tokens: TokenService;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/** A credential of an app registered at the local authority, trusting its CA. */
export function localCredential(
  authority: DevAuthority,
  tenantId: string | undefined,
  clientId: string | undefined,
  sources: CredentialSource[],
): CredentialOptions {
  return { tenantId, clientId, authorityHost: authority.url, ca: authority.caPem, sources };
}

/** Builds and initialises an app with `ClientCredentialsModule.forRoot(options)`. */
export async function startTokenApp(options: ClientCredentialsModuleOptions): Promise<TokenApp> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [ClientCredentialsModule.forRoot({ logger, ...options })],
  }).compile();
  const app = await moduleRef.init();
  return { app, tokens: app.get(TokenService), logger, close: () => app.close() };
}

/** Calls the dev authority's protected API with a bearer token; resolves to the HTTP status. */
export async function callApi(apiUrl: string, ca: string, authorization: string): Promise<number> {
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(`${apiUrl}/data`, { headers: { authorization }, dispatcher });
    await res.body.dump();
    return res.statusCode;
  } finally {
    await dispatcher.close();
  }
}
