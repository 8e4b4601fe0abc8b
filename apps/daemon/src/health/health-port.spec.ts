import { createServer, type Server } from 'node:net';
import { checkHealthAddress, healthListenError } from './health-port';

describe('the health address, checked before the daemon starts', () => {
  let holder: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (holder?.listening ? holder.close(resolve) : resolve(null)));
    holder = undefined;
  });

  it('a port another process holds: one line naming health.port, the address and the fix', async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder!.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    const refused = await checkHealthAddress('127.0.0.1', port).catch((e: Error) => e);
    expect(refused).toMatchObject({
      name: 'DaemonConfigError',
      message: `health.port: 127.0.0.1:${port} is in use: choose another port (0 picks a free one, printed at start), or stop what listens there`,
    });
    // Free again: the check lets it go, so the health server can take it.
    await new Promise((resolve) => holder!.close(resolve));
    await expect(checkHealthAddress('127.0.0.1', port)).resolves.toBeUndefined();
    await expect(checkHealthAddress('127.0.0.1', port)).resolves.toBeUndefined();
  });

  it('a port not allowed, an address not of this machine: named with the fix; anything else is left as it is', () => {
    const error = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
    expect(healthListenError(error('EACCES'), '::1', 80)?.message).toBe(
      'health.port: listening on [::1]:80 is not allowed for this user (a port below 1024?): choose a port from 1024 up (0 picks a free one)',
    );
    expect(healthListenError(error('EADDRNOTAVAIL'), '10.9.9.9', 8080)?.message).toBe(
      'health.host: 10.9.9.9:8080 is not an address of this machine: use 127.0.0.1 (the default), or an address of one of its interfaces',
    );
    expect(healthListenError(error('EMFILE'), '127.0.0.1', 8080)).toBeUndefined();
  });
});
