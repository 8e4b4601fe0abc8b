import {
  Global,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { TokenService } from '../token.service';
import {
  doubleEvents,
  TokenServiceDouble,
  type TokenServiceDoubleOptions,
} from './token-service.double';

/**
 * The double's events in the module's lifecycle, as the real service's: forwarded to the app's
 * `@nestjs/event-emitter` once the module starts, completed when it shuts down.
 */
@Injectable()
class DoubleLifecycle implements OnModuleInit, OnApplicationShutdown {
  private close?: () => void;

  constructor(
    @Inject(TokenServiceDouble) private readonly double: TokenServiceDouble,
    private readonly providers: ModuleRef,
  ) {}

  onModuleInit(): void {
    this.close ??= doubleEvents(this.double).open(this.providers);
  }

  onApplicationShutdown(): void {
    this.close?.();
    this.close = undefined;
  }
}

/**
 * Replaces `ClientCredentialsModule` in unit tests: provides `TokenService` as a
 * {@link TokenServiceDouble} (global, as the real module's service is injectable everywhere).
 * Its events reach the app's `@OnEvent` handlers (with `EventEmitterModule.forRoot()` imported)
 * and complete when the module closes, as the real service's.
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
        DoubleLifecycle,
      ],
      exports: [TokenService, TokenServiceDouble],
    };
  }
}
