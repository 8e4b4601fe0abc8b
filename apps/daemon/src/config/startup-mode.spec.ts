import { DaemonConfigError } from './load-config';
import { startupMode } from './startup-mode';

const CWD = '/srv/daemon';

/** The message `startupMode` refuses these arguments and environment with. */
function refusal(argv: string[], env: Record<string, string> = {}): string {
  try {
    startupMode(argv, env, CWD);
  } catch (e) {
    expect(e).toBeInstanceOf(DaemonConfigError);
    // One line: main prints it after 'daemon failed to start: '.
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected the start to be refused');
}

describe('startupMode', () => {
  describe('a configuration file', () => {
    it('is read from --config <file>, --config=<file> or DAEMON_CONFIG, relative to the cwd', () => {
      const file = { kind: 'config', file: '/etc/daemon/daemon.yaml' };
      expect(startupMode(['--config', '/etc/daemon/daemon.yaml'], {}, CWD)).toEqual(file);
      expect(startupMode(['--config=/etc/daemon/daemon.yaml'], {}, CWD)).toEqual(file);
      expect(startupMode([], { DAEMON_CONFIG: '/etc/daemon/daemon.yaml' }, CWD)).toEqual(file);
      expect(startupMode(['--config=daemon.yaml'], {}, CWD)).toEqual({
        kind: 'config',
        file: '/srv/daemon/daemon.yaml',
      });
    });

    it('--config wins over DAEMON_CONFIG (an empty one included)', () => {
      expect(startupMode(['--config', 'a.yaml'], { DAEMON_CONFIG: '/b.yaml' }, CWD)).toEqual({
        kind: 'config',
        file: '/srv/daemon/a.yaml',
      });
      expect(startupMode(['--config', 'a.yaml'], { DAEMON_CONFIG: '' }, CWD).kind).toBe('config');
    });

    it('runs under NODE_ENV=production', () => {
      expect(startupMode(['--config', 'a.yaml'], { NODE_ENV: 'production' }, CWD).kind).toBe(
        'config',
      );
    });
  });

  describe('a lost configuration is refused, naming the fix', () => {
    const lost =
      '--config has no file after it (a variable that was empty or unset in the command?): write --config <file> or --config=<file>, or set DAEMON_CONFIG=<file>';

    it('--config at the end, followed by another flag, or with an empty value', () => {
      expect(refusal(['--config'])).toBe(lost);
      expect(refusal(['--config', '--dev'])).toBe(lost);
      expect(refusal(['--config', ''])).toBe(lost);
      expect(refusal(['--config='])).toBe(lost);
      expect(refusal(['--config=', '--dev'], { NODE_ENV: 'production' })).toBe(lost);
    });

    it('an empty DAEMON_CONFIG', () => {
      const empty =
        'DAEMON_CONFIG is set but empty (a variable that was empty or unset?): set it to the configuration file, or unset it and pass --config <file>';
      expect(refusal([], { DAEMON_CONFIG: '' })).toBe(empty);
      expect(refusal([], { DAEMON_CONFIG: '  ' })).toBe(empty);
      expect(refusal(['--dev'], { DAEMON_CONFIG: '' })).toBe(empty);
    });

    it('two files, or an argument the daemon does not take', () => {
      expect(refusal(['--config', 'a.yaml', '--config=b.yaml'])).toBe(
        '--config is given more than once (a.yaml, b.yaml): keep one',
      );
      expect(refusal(['/etc/daemon/daemon.yaml'])).toBe(
        "unknown argument '/etc/daemon/daemon.yaml': the daemon takes --config <file> (or --config=<file>) or --dev",
      );
      expect(refusal(['--confg', 'daemon.yaml'])).toContain("unknown argument '--confg'");
    });
  });

  describe('dev mode', () => {
    it('only when asked for by name: --dev or DAEMON_DEV=1', () => {
      const dev = { kind: 'dev', dir: '/srv/daemon/.dev/daemon' };
      expect(startupMode(['--dev'], {}, CWD)).toEqual(dev);
      expect(startupMode([], { DAEMON_DEV: '1' }, CWD)).toEqual(dev);
      expect(startupMode([], { DAEMON_DEV: 'true' }, CWD)).toEqual(dev);
      expect(startupMode(['--dev'], { DAEMON_DEV_DIR: '/tmp/demo' }, CWD)).toEqual({
        kind: 'dev',
        dir: '/tmp/demo',
      });
    });

    it('is not the default: without configuration the start is refused, saying how to do either', () => {
      const none =
        'No configuration: run with --config <file> (or DAEMON_CONFIG=<file>), e.g. a copy of apps/daemon/config/daemon.example.yaml (docs/daemon.md); for the demo against a local test authority, ask for dev mode with --dev (or DAEMON_DEV=1), as npm start does';
      expect(refusal([])).toBe(none);
      expect(refusal([], { DAEMON_DEV: '0' })).toBe(none);
      expect(refusal([], { DAEMON_DEV: '' })).toBe(none);
      expect(refusal([], { DAEMON_DEV_DIR: '/tmp/demo' })).toBe(none);
      expect(refusal([], { DAEMON_DEV: 'yes' })).toBe(
        "DAEMON_DEV='yes' is neither 1 (dev mode) nor 0: set DAEMON_DEV=1 to ask for dev mode, or unset it",
      );
    });

    it('is refused under NODE_ENV=production', () => {
      const refused =
        'dev mode is refused with NODE_ENV=production: it starts a local test authority with demo apps and workers, not your configuration. Run with --config <file> (or DAEMON_CONFIG=<file>); to try the demo, run it without NODE_ENV=production';
      expect(refusal(['--dev'], { NODE_ENV: 'production' })).toBe(refused);
      expect(refusal([], { DAEMON_DEV: '1', NODE_ENV: 'Production' })).toBe(refused);
      expect(startupMode(['--dev'], { NODE_ENV: 'development' }, CWD).kind).toBe('dev');
    });

    it('and a configuration together are refused', () => {
      const both =
        'both dev mode (--dev or DAEMON_DEV) and a configuration (--config or DAEMON_CONFIG) were asked for: keep one (dev mode generates its own configuration for a local test authority)';
      expect(refusal(['--dev', '--config', 'a.yaml'])).toBe(both);
      expect(refusal(['--dev'], { DAEMON_CONFIG: '/etc/daemon/daemon.yaml' })).toBe(both);
    });
  });
});
