import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsModule,
  type ClientCredentialsModuleOptions,
} from '@app/client-credentials';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
  type DownstreamApiOptions,
} from '@app/client-credentials/downstream-api';
import { CapturingLogger } from '../support/capturing-logger';

/**
 * A Nest app with the token module (global, a capturing logger) and one downstream API `name`,
 * as a user's app declares them; resolves to the app and that API's client.
 */
export async function startDownstreamApp(
  options: ClientCredentialsModuleOptions,
  name: string,
  api: DownstreamApiOptions,
): Promise<{ app: INestApplicationContext; api: DownstreamApi }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ClientCredentialsModule.forRoot({
        isGlobal: true,
        logger: new CapturingLogger(),
        ...options,
      }),
      DownstreamApiModule.forRoot({ apis: { [name]: api } }),
    ],
  }).compile();
  const app = await moduleRef.init();
  return { app, api: app.get<DownstreamApi>(getDownstreamApiToken(name)) };
}
