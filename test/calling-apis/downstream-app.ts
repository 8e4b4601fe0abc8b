import type { INestApplicationContext } from '@nestjs/common';
import type { ClientCredentialsModuleOptions } from '@app/client-credentials';
import {
  DownstreamApiModule,
  getDownstreamApiToken,
  type DownstreamApi,
  type DownstreamApiOptions,
} from '@app/client-credentials/downstream-api';
import { startTokenApp } from '../support/token-app';

/**
 * A Nest app with the token module (global, a capturing logger) and one downstream API `name`,
 * as a user's app declares them; resolves to the app and that API's client.
 */
export async function startDownstreamApp(
  options: ClientCredentialsModuleOptions,
  name: string,
  api: DownstreamApiOptions,
): Promise<{ app: INestApplicationContext; api: DownstreamApi }> {
  const { app } = await startTokenApp({ isGlobal: true, ...options }, [
    DownstreamApiModule.forRoot({ apis: { [name]: api } }),
  ]);
  return { app, api: app.get<DownstreamApi>(getDownstreamApiToken(name)) };
}
