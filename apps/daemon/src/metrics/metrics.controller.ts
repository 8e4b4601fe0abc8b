import { Controller, Get, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DaemonMetrics } from './daemon-metrics';

/** `GET /metrics`: the library's instruments in the Prometheus text exposition format. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: DaemonMetrics) {}

  @Get()
  scrape(@Req() req: IncomingMessage, @Res() res: ServerResponse): void {
    if (!this.metrics.registered) {
      // A 200 with nothing in it would look to Prometheus like a healthy, empty scrape.
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        "Metrics are exported by the app's own OpenTelemetry SDK, registered before the daemon's.\n",
      );
      return;
    }
    this.metrics.exporter.getMetricsRequestHandler(req, res);
  }
}
