import { CERTIFICATE_CHECK_MS, chooseCertificate, TokenCertificate } from './pkcs11-certificate';

describe('TokenCertificate (the certificate object on a PKCS#11 token)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  /** The token's object as the read finds it, and the reads made. */
  /** The token's object as the read finds it (`hang`: a read that waits for a session). */
  const onToken = { pem: 'A', reads: 0, fail: false, hang: false, setAside: [] as string[] };
  const cert = () =>
    new TokenCertificate(async (setAside, signal) => {
      onToken.reads++;
      onToken.setAside = [...setAside];
      if (onToken.hang) {
        return new Promise<string>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error)),
        );
      }
      if (onToken.fail) throw new Error('CKR_OBJECT_HANDLE_INVALID');
      return onToken.pem;
    }, 10_000);
  beforeEach(() =>
    Object.assign(onToken, { pem: 'A', reads: 0, fail: false, hang: false, setAside: [] }),
  );

  it('read once per interval, in the background: a certificate renewed on the token is used after it', async () => {
    const c = cert();
    expect(await c.get(true)).toBe('A');
    onToken.pem = 'B';
    jest.advanceTimersByTime(CERTIFICATE_CHECK_MS - 1);
    for (let i = 0; i < 10; i++) expect(await c.get(true)).toBe('A');
    expect(onToken.reads).toBe(1);
    jest.advanceTimersByTime(1);
    // Due: the known one at once, the read made behind it and used from the next call on.
    expect(await c.get(true)).toBe('A');
    expect(await c.get(true)).toBe('B');
    expect(await c.get(true)).toBe('B');
    expect(onToken.reads).toBe(2);
  });

  it('a due read that hangs never holds a caller, and is given up after readMs', async () => {
    const c = cert();
    await c.get(true);
    onToken.hang = true;
    jest.advanceTimersByTime(CERTIFICATE_CHECK_MS);
    for (let i = 0; i < 5; i++) expect(await c.get(true)).toBe('A');
    expect(onToken.reads).toBe(2);
    await jest.advanceTimersByTimeAsync(10_000);
    onToken.hang = false;
    onToken.pem = 'B';
    expect(await c.get(true)).toBe('A');
    await jest.advanceTimersByTimeAsync(0);
    expect(await c.get(true)).toBe('B');
    expect(onToken.reads).toBe(3);
  });

  it('after the authority refused it: the next call waits for the read, which passes the refused one over', async () => {
    const c = cert();
    await c.get(true);
    onToken.pem = 'B';
    c.recheck(true);
    expect(await c.get(true)).toBe('B');
    expect(onToken.setAside).toEqual(['A']);
    expect(onToken.reads).toBe(2);
    // Sessions lost (not a refusal): read again, in the background, nothing more set aside.
    c.recheck();
    expect(await c.get(true)).toBe('B');
    expect(onToken.setAside).toEqual(['A']);
    expect(onToken.reads).toBe(3);
  });

  it('a read that fails keeps the certificate known, and the next call reads again', async () => {
    const c = cert();
    await c.get(true);
    c.recheck(true);
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
    c.recheck(true);
    onToken.pem = 'B';
    expect(await c.get(false)).toBe('A');
    expect(onToken.reads).toBe(1);
  });
});

describe('chooseCertificate (several certificates on a token for one key)', () => {
  const day = 86_400_000;
  const at = Date.parse('2026-06-01T00:00:00Z');
  const cert = (name: string, fromDays: number, toDays: number) => ({
    name,
    validFrom: new Date(at + fromDays * day).toUTCString(),
    validTo: new Date(at + toDays * day).toUTCString(),
  });
  const old = cert('old', -300, 60);
  const renewed = cert('renewed', -2, 360);
  const future = cert('future', 5, 400);
  const expired = cert('expired', -700, -300);
  const none = () => false;

  it('the one valid now issued last, whatever order the token lists them in', () => {
    expect(chooseCertificate([old, renewed, future, expired], at, none)?.name).toBe('renewed');
    expect(chooseCertificate([expired, future, renewed, old], at, none)?.name).toBe('renewed');
  });

  it('passes over one the authority refused while another is valid; none other: that one', () => {
    const refused = (c: { name: string }) => c.name === 'renewed';
    expect(chooseCertificate([renewed, old], at, refused)?.name).toBe('old');
    expect(chooseCertificate([renewed, future], at, refused)?.name).toBe('renewed');
  });

  it('none valid now: the latest issued (its dates are reported when it is used)', () => {
    expect(chooseCertificate([expired, future], at, none)?.name).toBe('future');
  });
});
