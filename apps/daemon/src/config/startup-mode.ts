import { resolve } from 'node:path';
import * as m from './config.messages';
import { DaemonConfigError } from './load-config';

/**
 * What the daemon runs: a configuration file (e.g. for Entra ID), or dev mode, the demo against a
 * local test authority it starts itself.
 */
export type StartupMode =
  | {
      kind: 'config';
      /** The configuration file, absolute. */
      file: string;
    }
  | {
      kind: 'dev';
      /** Dev mode's folder (authority state, keys, the generated configuration), absolute. */
      dir: string;
    };

/** Where dev mode writes, unless `DAEMON_DEV_DIR` says otherwise (git-ignored). */
const DEV_DIR = '.dev/daemon';

/**
 * Reads what the daemon was asked to run from its arguments and environment. A configuration
 * comes from `--config <file>`, `--config=<file>` or `DAEMON_CONFIG=<file>`; dev mode only when
 * asked for by name, `--dev` or `DAEMON_DEV=1`, and never under `NODE_ENV=production`. Anything
 * else stops the start: a daemon that misses its configuration must not run a demo instead.
 *
 * @param argv the arguments after the script, `process.argv.slice(2)`
 * @throws DaemonConfigError one line naming the fix: `--config` without a file, an empty
 *   `DAEMON_CONFIG`, no configuration and no dev mode, dev mode in production, both, an unknown
 *   argument
 * @example startupMode(['--config=/etc/daemon/daemon.yaml'], process.env)
 *   // { kind: 'config', file: '/etc/daemon/daemon.yaml' }
 */
export function startupMode(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  cwd = process.cwd(),
): StartupMode {
  const { files, dev: devFlag } = readArguments(argv);
  if (files.length > 1) throw new DaemonConfigError(m.configTwice(files));
  if (files.length === 0 && env.DAEMON_CONFIG !== undefined && env.DAEMON_CONFIG.trim() === '') {
    throw new DaemonConfigError(m.configEnvEmpty());
  }
  const file = files[0] ?? env.DAEMON_CONFIG;
  const dev = devFlag || devAskedByEnv(env.DAEMON_DEV);
  if (dev && file !== undefined) throw new DaemonConfigError(m.devAndConfig());
  if (file !== undefined) return { kind: 'config', file: resolve(cwd, file) };
  if (!dev) throw new DaemonConfigError(m.noConfiguration());
  if (env.NODE_ENV?.trim().toLowerCase() === 'production') {
    throw new DaemonConfigError(m.devInProduction());
  }
  return { kind: 'dev', dir: resolve(cwd, env.DAEMON_DEV_DIR || DEV_DIR) };
}

function readArguments(argv: readonly string[]): { files: string[]; dev: boolean } {
  const files: string[] = [];
  let dev = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--dev') {
      dev = true;
    } else if (arg === '--config' || arg.startsWith('--config=')) {
      const value = arg === '--config' ? argv[++i] : arg.slice('--config='.length);
      // An empty unquoted variable (`--config $FILE --dev`) leaves the next flag, or nothing.
      const lost = value === undefined || value.trim() === '';
      if (lost || (arg === '--config' && value.startsWith('-'))) {
        throw new DaemonConfigError(m.configWithoutFile());
      }
      files.push(value);
    } else {
      throw new DaemonConfigError(m.unknownArgument(arg));
    }
  }
  return { files, dev };
}

/** `DAEMON_DEV`: 1/true asks for dev mode, 0/false/empty does not, anything else is a mistake. */
function devAskedByEnv(value: string | undefined): boolean {
  const v = value?.trim().toLowerCase() ?? '';
  if (v === '1' || v === 'true') return true;
  if (v === '' || v === '0' || v === 'false') return false;
  throw new DaemonConfigError(m.badDevEnv(value!));
}
