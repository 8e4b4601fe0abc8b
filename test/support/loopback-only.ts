/**
 * Every end-to-end suite runs with this guard: a TCP connection to anything but loopback fails the
 * connecting call at once and fails the suite afterwards, so no test can quietly reach Entra ID, IMDS
 * (169.254.169.254) or any other host. Patching `net.Socket.prototype.connect` covers node:http(s),
 * undici, the built-in fetch and redis clients alike, since all of them open sockets through it.
 */
import net from 'node:net';

const violations: string[] = [];
const original = net.Socket.prototype.connect;

function isLoopback(host: string | null | undefined): boolean {
  if (host == null || host === '' || host === 'localhost') return true;
  if (host === '::1' || host === '[::1]') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

function targetOf(args: unknown[]): { host?: string | null; path?: string | null } {
  const [first, second] = args as [unknown, unknown];
  if (Array.isArray(first)) return targetOf(first as unknown[]);
  if (first !== null && typeof first === 'object') {
    const o = first as { host?: string | null; path?: string | null };
    return { host: o.host, path: o.path };
  }
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first };
  return { host: typeof second === 'string' ? second : undefined };
}

net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const { host, path } = targetOf(args);
  if (path == null && !isLoopback(host)) {
    violations.push(String(host));
    throw new Error(`loopback-only: a test tried to connect to ${String(host)}`);
  }
  return (original as (...a: unknown[]) => net.Socket).apply(this, args);
};

/** Hands over (and forgets) the refused targets: for the guard's own test, which provokes one. */
export function takeLoopbackViolations(): string[] {
  return violations.splice(0);
}

afterAll(() => {
  expect(violations).toEqual([]);
});
