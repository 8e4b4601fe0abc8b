import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import { WorkerScheduler } from '../workers/worker-scheduler.service';

/**
 * `/health/live`: the process runs its schedules (always 200 while it serves).
 * `/health/ready`: every credential the workers use has produced a token and is not failing
 * (503 otherwise, with the credential's last error code).
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly credentials: ClientCredentialsHealthIndicator,
    private readonly scheduler: WorkerScheduler,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([
      () => this.indicators.check('workers').up({ workers: this.scheduler.snapshot() }),
    ]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () =>
        this.credentials.isHealthy('credentials', {
          credentials: this.scheduler.credentialsInUse,
        }),
    ]);
  }
}
