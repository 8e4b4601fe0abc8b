import { registerAs, type ConfigType } from '@nestjs/config';
import type { DaemonConfig } from './daemon-config.schema';
import { loadDaemonConfig, type DaemonConfigSource } from './load-config';

/**
 * The `daemon` configuration namespace: read from a file or object, overridden by the
 * environment and validated when the app boots (a registerAs factory validates its own slice).
 */
export const daemonConfig = (source: DaemonConfigSource) =>
  registerAs('daemon', (): DaemonConfig => loadDaemonConfig(source));

/** Injection token of the validated {@link DaemonConfig}. */
export const DAEMON_CONFIG = 'CONFIGURATION(daemon)';

/** The injected type of {@link DAEMON_CONFIG}. */
export type DaemonConfiguration = ConfigType<ReturnType<typeof daemonConfig>>;
