import {
  ConfigurableModuleBuilder,
  Inject,
  Injectable,
  Module,
  Optional,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { TokenService } from '../token.service';
import { DownstreamApiError } from '../calling/calling.errors';
import { DownstreamApi } from './downstream-api.client';
import { getDownstreamApiToken } from './downstream-api.decorator';
import { ConfigurationError, InvalidRequestError } from '../errors/client-credentials.errors';
import {
  DOWNSTREAM_API_MODULE,
  resolveDownstreamApis,
  unknownCredentials,
  type DownstreamApiModuleOptions,
  type DownstreamApiOptions,
} from './downstream-api.options';

const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: DOWNSTREAM_API_OPTIONS,
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- used for its type only
  OPTIONS_TYPE,
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- used for its type only
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<DownstreamApiModuleOptions>()
  .setClassMethodName('forRoot')
  .build();

/** Options of `DownstreamApiModule.forRootAsync()`. */
export type DownstreamApiModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;

/**
 * The configured downstream APIs by name; each is created once, validated at start-up, and
 * closed at shutdown.
 * @publicApi
 */
@Injectable()
export class DownstreamApis implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  readonly #apis = new Map<string, DownstreamApi>();
  readonly #options: Record<string, DownstreamApiOptions>;
  private readonly tokens: TokenService;

  constructor(
    @Inject(DOWNSTREAM_API_OPTIONS) options: DownstreamApiModuleOptions,
    // Optional, so that a missing token service is named with its fix rather than Nest's
    // "can't resolve dependencies … at index [1]".
    @Optional() @Inject(TokenService) tokens: TokenService | undefined,
    private readonly moduleRef: ModuleRef,
  ) {
    if (tokens === undefined) {
      throw new ConfigurationError(
        [
          'TokenService: not injectable in DownstreamApiModule — register ClientCredentialsModule.forRoot({ isGlobal: true, … }) (or forRootAsync({ isGlobal: true, … })), or pass imports: [<the module providing TokenService>] to DownstreamApiModule.forRootAsync()',
        ],
        DOWNSTREAM_API_MODULE,
      );
    }
    this.tokens = tokens;
    const apis = resolveDownstreamApis(options?.apis, 'apis');
    this.#options = apis;
    try {
      for (const [name, api] of Object.entries(apis)) {
        this.#apis.set(name, new DownstreamApi(name, api, tokens));
      }
    } catch (e) {
      void this.onApplicationShutdown();
      throw e;
    }
  }

  /**
   * Refuses a second registration: each `forRoot`/`forRootAsync` is global and provides its own
   * `DownstreamApis`, and the app would get one registration's APIs only (the last one's).
   * @throws ConfigurationError naming the fix: one registration with every API
   */
  onModuleInit(): void {
    const registrations = this.moduleRef.get(DownstreamApis, { strict: false, each: true });
    if (registrations.length > 1) {
      const names = registrations.map((r) => `{ ${r.names.join(', ')} }`).join(', ');
      throw new ConfigurationError(
        [
          `DownstreamApiModule.forRoot()/forRootAsync() is registered ${registrations.length} times (APIs ${names}): register it once, with every API in its apis — a feature module injects its API with @InjectDownstreamApi(name) (after forRootAsync, list the names with DownstreamApiModule.forFeature(...))`,
        ],
        DOWNSTREAM_API_MODULE,
      );
    }
  }

  /**
   * Checks each API's `credential`, `scopes`, `tenantId`, `agent` and `agentUser` against the token service,
   * once every module is initialised (the token service loads its credentials in its own
   * `onModuleInit`), so that a misspelt name, a scope the credential's authority cannot take, a
   * meta-tenant or an agent the credential does not have fails `app.init()` rather than the API's
   * first call.
   * @throws ConfigurationError `apis.<name>.<field>: …`
   */
  onApplicationBootstrap(): void {
    const names = this.tokens.credentialNames;
    const problems = unknownCredentials(this.#options, names, 'apis');
    for (const [name, api] of Object.entries(this.#options)) {
      if (api.credential !== undefined && !names.includes(api.credential)) continue;
      try {
        this.tokens.checkRequest(api.scopes, {
          credential: api.credential,
          tenantId: api.tenantId,
          agent: api.agent,
          agentUser: api.agentUser,
        });
      } catch (e) {
        if (!(e instanceof InvalidRequestError)) throw e;
        // No credential named and no default one: each call names its own (`credential` option).
        if (e.code === 'credential_unknown') continue;
        const field =
          e.code === 'scope_invalid'
            ? 'scopes'
            : e.code === 'agent_user_invalid' ||
                (e.code === 'agent_unsupported' && api.agent === undefined)
              ? 'agentUser'
              : e.code.startsWith('agent_')
                ? 'agent'
                : 'tenantId';
        problems.push(`apis.${name}.${field}: ${e.message.split(' Hint: ')[0]}`);
      }
    }
    if (problems.length > 0) throw new ConfigurationError(problems, DOWNSTREAM_API_MODULE);
  }

  /**
   * The API named `name`.
   * @throws DownstreamApiError `api_unknown` naming the configured APIs when there is none
   */
  get(name: string): DownstreamApi {
    const api = this.#apis.get(name);
    if (api === undefined) {
      throw new DownstreamApiError(
        'api_unknown',
        `No downstream API named '${name}': configured are ${[...this.#apis.keys()].join(', ') || 'none'}.`,
        { api: name },
      );
    }
    return api;
  }

  /** Names of the configured APIs. */
  get names(): string[] {
    return [...this.#apis.keys()];
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.#apis.values()].map((a) => a.close()));
  }
}

function namedProviders(names: readonly string[]): Provider[] {
  return names.map((name) => ({
    provide: getDownstreamApiToken(name),
    useFactory: (apis: DownstreamApis) => {
      // Only forFeature can name an API the registration lacks (forRoot lists its own keys).
      if (!apis.names.includes(name)) {
        throw new ConfigurationError(
          [
            `forFeature('${name}'): no downstream API named '${name}' — configured are ${apis.names.map((n) => `'${n}'`).join(', ') || 'none'}; list only configured names in DownstreamApiModule.forFeature(...), or add '${name}' to the apis of forRootAsync()`,
          ],
          DOWNSTREAM_API_MODULE,
        );
      }
      return apis.get(name);
    },
    inject: [DownstreamApis],
  }));
}

/**
 * Named downstream APIs called with the app's own tokens. It needs `TokenService`: register
 * `ClientCredentialsModule.forRoot({ ..., isGlobal: true })` (or pass `imports` to `forRootAsync`). `forRoot` provides each named
 * API for `@InjectDownstreamApi(name)`; with `forRootAsync` list the names with `forFeature`.
 *
 * @example
 * DownstreamApiModule.forRoot({ apis: { orders: { baseUrl: 'https://orders.contoso.com/api', scopes: 'api://orders/.default' } } })
 * @example
 * DownstreamApiModule.forRootAsync({ inject: [ConfigService], useFactory: (c: ConfigService) => downstreamApisFromConfig(c.get('clientCredentials')) }),
 * DownstreamApiModule.forFeature('orders'),
 * @publicApi
 */
@Module({})
export class DownstreamApiModule extends ConfigurableModuleClass {
  static forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    const base = super.forRoot(options);
    const named = namedProviders(Object.keys(options.apis ?? {}));
    return {
      ...base,
      global: true,
      providers: [...(base.providers ?? []), DownstreamApis, ...named],
      exports: [DownstreamApis, ...named.map((p) => (p as { provide: string }).provide)],
    };
  }

  static forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    const base = super.forRootAsync(options);
    return {
      ...base,
      global: true,
      providers: [...(base.providers ?? []), DownstreamApis],
      exports: [DownstreamApis],
    };
  }

  /** Provides the named APIs (configured by `forRootAsync`) for `@InjectDownstreamApi(name)`. */
  static forFeature(...names: string[]): DynamicModule {
    const named = namedProviders(names);
    return {
      module: DownstreamApiModule,
      providers: named,
      exports: named.map((p) => (p as { provide: string }).provide),
    };
  }
}
