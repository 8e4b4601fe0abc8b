import https from 'node:https';
import { takeLoopbackViolations } from './loopback-only';

describe('loopback-only guard', () => {
  it('refuses a connection that would leave loopback', async () => {
    const attempt = new Promise<void>((resolve, reject) => {
      const req = https.get('https://169.254.169.254/metadata/identity', () => resolve());
      req.on('error', reject);
    });
    await expect(attempt).rejects.toThrow(
      'loopback-only: a test tried to connect to 169.254.169.254',
    );
    expect(takeLoopbackViolations()).toEqual(['169.254.169.254']);
  });

  it('lets loopback through', async () => {
    const attempt = new Promise<string>((resolve) => {
      const req = https.get('https://127.0.0.1:1/', () => resolve('response'));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(String(e.code)));
    });
    await expect(attempt).resolves.toBe('ECONNREFUSED');
    expect(takeLoopbackViolations()).toEqual([]);
  });
});
