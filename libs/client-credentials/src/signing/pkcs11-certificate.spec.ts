import { CERTIFICATE_CHECK_MS, TokenCertificate } from './pkcs11-certificate';

describe('TokenCertificate (the certificate object on a PKCS#11 token)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  /** The token's object as the read finds it, and the reads made. */
  const onToken = { pem: 'A', reads: 0, fail: false };
  const cert = () =>
    new TokenCertificate(async () => {
      onToken.reads++;
      if (onToken.fail) throw new Error('CKR_OBJECT_HANDLE_INVALID');
      return onToken.pem;
    });
  beforeEach(() => Object.assign(onToken, { pem: 'A', reads: 0, fail: false }));

  it('read once per interval; a certificate renewed on the token is used after it', async () => {
    const c = cert();
    expect(await c.get(true)).toBe('A');
    onToken.pem = 'B';
    jest.advanceTimersByTime(CERTIFICATE_CHECK_MS - 1);
    for (let i = 0; i < 10; i++) expect(await c.get(true)).toBe('A');
    expect(onToken.reads).toBe(1);
    jest.advanceTimersByTime(1);
    expect(await c.get(true)).toBe('B');
    expect(await c.get(true)).toBe('B');
    expect(onToken.reads).toBe(2);
  });

  it('read again at once after recheck (the authority refused the credential)', async () => {
    const c = cert();
    await c.get(true);
    onToken.pem = 'B';
    c.recheck();
    expect(await c.get(true)).toBe('B');
    expect(onToken.reads).toBe(2);
  });

  it('a read that fails keeps the certificate known, and the next call reads again', async () => {
    const c = cert();
    await c.get(true);
    c.recheck();
    onToken.fail = true;
    expect(await c.get(true)).toBe('A');
    onToken.fail = false;
    onToken.pem = 'B';
    expect(await c.get(true)).toBe('B');
    expect(onToken.reads).toBe(3);
  });

  it('the first read failing is an error; concurrent callers share one read', async () => {
    const c = cert();
    onToken.fail = true;
    await expect(c.get(true)).rejects.toThrow('CKR_OBJECT_HANDLE_INVALID');
    onToken.fail = false;
    expect(await Promise.all([c.get(true), c.get(true), c.get(true)])).toEqual(['A', 'A', 'A']);
    expect(onToken.reads).toBe(2);
  });

  it('not read while the device leaves calls unanswered: the known one is served', async () => {
    const c = cert();
    await c.get(true);
    c.recheck();
    onToken.pem = 'B';
    expect(await c.get(false)).toBe('A');
    expect(onToken.reads).toBe(1);
  });
});
