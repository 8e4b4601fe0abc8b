import { createServer } from 'node:net';
import * as m from '../config/config.messages';
import { DaemonConfigError } from '../config/load-config';

/**
 * The one-line start-up error of a health address the daemon cannot listen on (taken, not
 * allowed, not an address of this machine), naming `health.port` / `health.host` and the fix;
 * undefined for any other error.
 */
export function healthListenError(
  error: unknown,
  host: string,
  port: number,
): DaemonConfigError | undefined {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return new DaemonConfigError(m.healthPortInUse(address));
    case 'EACCES':
      return new DaemonConfigError(m.healthPortDenied(address));
    case 'EADDRNOTAVAIL':
      return new DaemonConfigError(m.healthHostUnknown(address));
    default:
      return undefined;
  }
}

/**
 * Listens at the health address once and lets it go, before anything starts: a port another
 * process holds stops the start with one line, before the token service, the workers or dev mode's
 * revocation demo do anything. (The listen that follows can still lose a race for the port; it is
 * reported the same way, and the workers wait for it.)
 * @throws DaemonConfigError see {@link healthListenError}
 */
export async function checkHealthAddress(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e) => reject(healthListenError(e, host, port) ?? e));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
