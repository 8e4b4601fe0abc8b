import { Module } from '@nestjs/common';
import { ConfigurableModuleClass } from './client-credentials.module-definition';
import { TokenService } from './token.service';

/**
 * OAuth 2.0 client-credentials tokens for the app's own identity.
 *
 * @example
 * ClientCredentialsModule.forRoot({
 *   credentials: {
 *     graph: { tenantId, clientId, sources: [{ type: 'certificate', certificatePath: '/etc/app/cert.pem' }] },
 *   },
 * })
 * @example
 * ClientCredentialsModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => config.getOrThrow('clientCredentials'),
 * })
 * @publicApi
 */
@Module({
  providers: [TokenService],
  exports: [TokenService],
})
export class ClientCredentialsModule extends ConfigurableModuleClass {}
