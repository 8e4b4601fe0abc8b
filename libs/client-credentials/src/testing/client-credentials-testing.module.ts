import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TokenService } from '../token.service';
import { TokenServiceDouble, type TokenServiceDoubleOptions } from './token-service.double';

/**
 * Replaces `ClientCredentialsModule` in unit tests: provides `TokenService` as a
 * {@link TokenServiceDouble} (global, as the real module's service is injectable everywhere).
 *
 * @example
 * const double = new TokenServiceDouble().willAnswer('t1');
 * const moduleRef = await Test.createTestingModule({
 *   imports: [ClientCredentialsTestingModule.forRoot(double)],
 *   providers: [SyncJob],
 * }).compile();
 * @publicApi
 */
@Global()
@Module({})
export class ClientCredentialsTestingModule {
  /** `double`: a double to script and inspect, or options of a new one. */
  static forRoot(double: TokenServiceDouble | TokenServiceDoubleOptions = {}): DynamicModule {
    const value = double instanceof TokenServiceDouble ? double : new TokenServiceDouble(double);
    return {
      module: ClientCredentialsTestingModule,
      providers: [
        { provide: TokenServiceDouble, useValue: value },
        { provide: TokenService, useValue: value },
      ],
      exports: [TokenService, TokenServiceDouble],
    };
  }
}
