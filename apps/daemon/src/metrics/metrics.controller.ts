import { Controller, Get, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DaemonMetrics } from './daemon-metrics';

/** `GET /metrics`: the library's instruments in the Prometheus text exposition format. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: DaemonMetrics) {}

  @Get()
  scrape(@Req() req: IncomingMessage, @Res() res: ServerResponse): void {
    this.metrics.exporter.getMetricsRequestHandler(req, res);
  }
}
