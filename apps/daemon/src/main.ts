import { Logger, type LogLevel, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { DAEMON_CONFIG, type DaemonConfiguration } from './config/daemon.config';
import { sharedCacheSummary } from './config/credential-options';
import { DaemonConfigError, loadDaemonConfig } from './config/load-config';
import { startupMode } from './config/startup-mode';
import { startDevMode, type DevMode } from './dev/dev-mode';
import { checkHealthAddress, healthListenError } from './health/health-port';

/**
 * `node dist/apps/daemon/main.js --config <file>` (or `--config=<file>`, or DAEMON_CONFIG=<file>):
 * runs the daemon from that configuration, e.g. against Entra ID. `--dev` (or DAEMON_DEV=1), what
 * `npm start` runs: dev mode, against a local authority started for it. Anything else, a lost
 * `--config` value or dev mode under NODE_ENV=production included, stops with one line.
 */
async function bootstrap(): Promise<void> {
  const logger = new Logger('Daemon');
  // Decided before anything starts: a daemon that misses its configuration must not run the demo.
  const mode = startupMode(process.argv.slice(2), process.env);
  let dev: DevMode | undefined;
  let configFile: string;
  const extras: Provider[] = [];
  if (mode.kind === 'dev') {
    const d = await startDevMode(mode.dir);
    dev = d;
    configFile = d.configFile;
    logger.log(
      `dev mode: local authority at ${d.manifest.authorityHost} (tenant ${d.manifest.tenantId}); configuration ${d.configFile}`,
    );
    // Closed with the app, after the workers and the token service.
    extras.push({
      provide: 'DAEMON_DEV_AUTHORITY',
      useValue: {
        onApplicationShutdown: async () => {
          await d.close();
          logger.log('dev mode: local authority stopped');
        },
      },
    });
  } else {
    configFile = mode.file;
  }
  try {
    // Checked before Nest starts: a configuration problem is printed once, as its list, instead
    // of by Nest's ExceptionHandler with a stack first.
    const { health, clientCredentials } = loadDaemonConfig({ file: configFile });
    logger.log(sharedCacheSummary(clientCredentials));
    await checkHealthAddress(health.host, health.port);
    const app = await NestFactory.create(AppModule.forRoot({ file: configFile }, extras), {
      forceCloseConnections: true,
      // Failures reach the catch below and are printed once, not logged by Nest first.
      abortOnError: false,
      logger: logLevels(process.env.DAEMON_LOG_LEVEL),
    });
    app.enableShutdownHooks();
    const config = app.get<DaemonConfiguration>(DAEMON_CONFIG);
    try {
      await app.listen(config.health.port, config.health.host);
    } catch (e) {
      throw healthListenError(e, config.health.host, config.health.port) ?? e;
    }
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    logger.log(`health: ${url}/health/ready and ${url}/health/live; Ctrl-C stops the daemon`);
    // Dev mode shows a revoked token recovering: one worker's app is revoked after its first call.
    void dev?.revokeAfterFirstCall();
  } catch (e) {
    await dev?.close();
    throw e;
  }
}

/** `DAEMON_LOG_LEVEL=debug` adds the library's debug lines; the default is `log`. */
function logLevels(level = 'log'): LogLevel[] {
  const all: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
  const i = all.indexOf(level as LogLevel);
  return all.slice(0, i < 0 ? 4 : i + 1);
}

bootstrap().catch((e: unknown) => {
  // A configuration problem is the user's to fix: show the message, not a stack.
  const message =
    e instanceof DaemonConfigError || (e as { code?: string })?.code === 'options_invalid'
      ? (e as Error).message
      : e instanceof Error
        ? (e.stack ?? e.message)
        : String(e);
  console.error(`daemon failed to start: ${message}`);
  process.exit(1);
});
