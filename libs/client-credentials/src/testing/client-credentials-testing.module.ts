import {
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

/** How {@link ClientCredentialsTestingModule} is registered, as `ClientCredentialsModule` is. @publicApi */
export interface ClientCredentialsTestingModuleOptions {
  /**
   * Registers the module globally, as `isGlobal` does for `ClientCredentialsModule`: give it the
   * value the app gives the real module, so that a module of the app that injects `TokenService`
   * without importing it (`DownstreamApiModule`, say) fails in its tests as it would at start-up.
   * @default false
   */
  isGlobal?: boolean;
}

/**
 * Replaces `ClientCredentialsModule` in unit tests: provides `TokenService` as a
 * {@link TokenServiceDouble}, exported to the module that imports it — or, with `isGlobal: true`,
 * to every module, as the real module with the same option. Its events reach the app's
 * `@OnEvent` handlers (with `EventEmitterModule.forRoot()` imported) and complete when the module
 * closes, as the real service's.
 *
 * @example
 * const double = new TokenServiceDouble().willAnswer('t1');
 * const moduleRef = await Test.createTestingModule({
 *   imports: [ClientCredentialsTestingModule.forRoot(double)],
 *   providers: [SyncJob],
 * }).compile();
 * @example
 * // The app registers ClientCredentialsModule.forRoot({ isGlobal: true, … }) for its other modules:
 * imports: [ClientCredentialsTestingModule.forRoot(double, { isGlobal: true }), OrdersModule]
 * @publicApi
 */
@Module({})
export class ClientCredentialsTestingModule {
  /**
   * `double`: a double to script and inspect, or options of a new one; `options.isGlobal` as the
   * real module's (default: not global).
   */
  static forRoot(
    double: TokenServiceDouble | TokenServiceDoubleOptions = {},
    options: ClientCredentialsTestingModuleOptions = {},
  ): DynamicModule {
    const value = double instanceof TokenServiceDouble ? double : new TokenServiceDouble(double);
    return {
      module: ClientCredentialsTestingModule,
      global: options?.isGlobal === true,
      providers: [
        { provide: TokenServiceDouble, useValue: value },
        { provide: TokenService, useValue: value },
        DoubleLifecycle,
      ],
      exports: [TokenService, TokenServiceDouble],
    };
  }
}
