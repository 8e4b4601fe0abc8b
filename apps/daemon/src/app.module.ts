import { DynamicModule, Module, type Provider } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { ClientCredentialsModule } from '@app/client-credentials';
import { DownstreamApiModule } from '@app/client-credentials/downstream-api';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import { toClientCredentialsOptions } from './config/credential-options';
import { daemonConfig, DAEMON_CONFIG, type DaemonConfiguration } from './config/daemon.config';
import type { DaemonConfigSource } from './config/load-config';
import { HealthController } from './health/health.controller';
import { DaemonMetrics } from './metrics/daemon-metrics';
import { MetricsController } from './metrics/metrics.controller';
import { WorkerScheduler } from './workers/worker-scheduler.service';

/**
 * The daemon: configuration (file or object, plus environment overrides), the token service,
 * the scheduled workers and the health endpoints. The same module runs against Entra ID and
 * against the local authority: only the configuration differs.
 */
@Module({})
export class AppModule {
  /** `extraProviders`: e.g. dev mode's local authority, closed with the app. */
  static forRoot(source: DaemonConfigSource, extraProviders: Provider[] = []): DynamicModule {
    // Made now, before any provider: the library's instruments need the SDK registered first.
    const metrics = new DaemonMetrics();
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, isGlobal: true, load: [daemonConfig(source)] }),
        ScheduleModule.forRoot(),
        TerminusModule.forRoot({ logger: false }),
        ClientCredentialsModule.forRootAsync({
          // Global: the downstream APIs below take their tokens from it.
          isGlobal: true,
          inject: [DAEMON_CONFIG],
          useFactory: (config: DaemonConfiguration) => toClientCredentialsOptions(config),
        }),
        // The APIs the workers call, by name; their tokens come from the module above.
        DownstreamApiModule.forRootAsync({
          inject: [DAEMON_CONFIG],
          useFactory: (config: DaemonConfiguration) => ({ apis: config.downstreamApis }),
        }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: DaemonMetrics, useValue: metrics },
        WorkerScheduler,
        ClientCredentialsHealthIndicator,
        ...extraProviders,
      ],
    };
  }
}
