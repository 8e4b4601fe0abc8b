import type { OnApplicationShutdown } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * The daemon's OpenTelemetry SDK: one meter provider whose only reader is a Prometheus exporter
 * that never opens a port of its own — `/metrics` on the health server serves it. The library's
 * instruments (cache hits and misses, token requests by outcome, their duration, refreshes, the
 * shared cache's reads, writes, rejections and lock waits, seconds until tokens and certificates
 * expire) report through it.
 */
export class DaemonMetrics implements OnApplicationShutdown {
  readonly exporter = new PrometheusExporter({ preventServerStart: true });
  private readonly provider = new MeterProvider({ readers: [this.exporter] });
  /**
   * Whether this provider is the process's: false when another OpenTelemetry SDK (the app's own,
   * or auto-instrumentation loaded with `--require`) registered first — its readers then export the
   * library's instruments, and `/metrics` says so instead of answering an empty scrape.
   */
  readonly registered: boolean;

  /**
   * Registers the provider as the process's global one. It must come before the library creates
   * its instruments: the OpenTelemetry API has no proxy meter, so an instrument made before a
   * provider is registered stays a no-op for good.
   */
  constructor() {
    this.registered = metrics.setGlobalMeterProvider(this.provider);
    if (!this.registered) void this.provider.shutdown();
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.registered) return;
    await this.provider.shutdown();
    // Unregistered, so that a daemon started again in this process (tests) registers its own —
    // never another SDK's provider, which is not ours to remove.
    metrics.disable();
  }
}
