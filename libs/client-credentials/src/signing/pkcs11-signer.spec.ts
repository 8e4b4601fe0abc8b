import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11Signer } from './pkcs11-signer';
import { SignerError } from './signer-error';

/** What the in-memory module counts and how it behaves, as each test starts. */
function freshToken() {
  return {
    logins: [] as string[],
    open: 0,
    maxOpen: 0,
    /** Sessions opened before this number are gone (the token was removed). */
    validFrom: 0,
    nextSession: 0,
    signDelayMs: 0,
    /** The module's file can be loaded (it is mounted). */
    loadable: true,
    /** The token is in its reader. */
    present: true,
    slotLists: 0,
    signInits: 0,
    /** The flags of each C_Initialize. */
    initFlags: [] as (number | undefined)[],
    /** While set, C_Sign waits for it: a device that hangs. */
    hang: undefined as Promise<void> | undefined,
    /** Signatures inside the module (each on a libuv thread), now and at most. */
    inSign: 0,
    maxInSign: 0,
    /** Sessions whose signature has not returned: a C_SignInit on one is CKR_OPERATION_ACTIVE. */
    signing: new Set<number>(),
    /** The DER value of the certificate object on the token; reads of it. */
    finalized: 0,
  };
}

/** A PKCS#11 module in memory, counting what the signer asks of it. */
const token = { pin: '1234', ...freshToken() };

jest.mock('pkcs11js', () => {
  const actual = jest.requireActual<Record<string, unknown>>('pkcs11js');
  const fail = (name: string) => new Error(`${name}:${String(actual[name])}`);
  const valid = (session: Buffer) => {
    if (session.readUInt32LE(0) < token.validFrom) throw fail('CKR_SESSION_HANDLE_INVALID');
  };
  class PKCS11 {
    load(path: string) {
      if (!token.loadable) throw new Error(`${path}: cannot open shared object file`);
    }
    C_Initialize(options?: { flags?: number }) {
      token.initFlags.push(options?.flags);
    }
    C_Finalize() {
      token.finalized++;
    }
    C_GetSlotList() {
      token.slotLists++;
      return token.present ? [Buffer.from([1, 0, 0, 0])] : [];
    }
    C_GetTokenInfo() {
      return { label: 'daemon                          ' };
    }
    C_OpenSession() {
      token.open++;
      token.maxOpen = Math.max(token.maxOpen, token.open);
      const b = Buffer.alloc(4);
      b.writeUInt32LE(token.nextSession++);
      return b;
    }
    C_CloseSession() {
      token.open--;
    }
    C_Login(_s: Buffer, _u: number, pin: string) {
      token.logins.push(pin);
      if (pin !== token.pin) throw fail('CKR_PIN_INCORRECT');
    }
    /** The one key object, found once per search (a search continues where it stopped). */
    searchLeft = 0;
    C_FindObjectsInit() {
      this.searchLeft = 1;
    }
    C_FindObjects() {
      return this.searchLeft-- > 0 ? [Buffer.from([9])] : [];
    }
    C_FindObjectsFinal() {}
    C_GetAttributeValue() {
      return [];
    }
    C_SignInit(session: Buffer) {
      valid(session);
      if (token.signing.has(session.readUInt32LE(0))) throw fail('CKR_OPERATION_ACTIVE');
      token.signInits++;
    }
    async C_SignAsync(session: Buffer) {
      valid(session);
      const id = session.readUInt32LE(0);
      token.signing.add(id);
      token.maxInSign = Math.max(token.maxInSign, ++token.inSign);
      try {
        await token.hang;
        if (token.signDelayMs > 0) await new Promise((r) => setTimeout(r, token.signDelayMs));
        return Buffer.from('signature');
      } finally {
        token.inSign--;
        token.signing.delete(id);
      }
    }
  }
  return { ...actual, PKCS11 };
});

describe('Pkcs11Signer (a PKCS#11 module in memory)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pkcs11-spec-'));
  const pinFile = join(dir, 'pin');
  let signer: Pkcs11Signer;
  const options = () => ({
    type: 'pkcs11' as const,
    modulePath: '/fake/module.so',
    tokenLabel: 'daemon',
    keyLabel: 'k',
    pinFile,
  });
  const sign = (signal?: AbortSignal) =>
    signer.sign(Buffer.from('header.payload'), 'PS256', { signal });

  beforeEach(() => {
    Object.assign(token, freshToken());
    writeFileSync(pinFile, '1234\n');
    signer = new Pkcs11Signer(options());
  });
  afterEach(() => signer.close());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('logs in once, and never again with a PIN the token refused until the PIN changes', async () => {
    writeFileSync(pinFile, '9999\n');
    for (let i = 0; i < 3; i++) {
      await expect(sign()).rejects.toThrow(/CKR_PIN_INCORRECT/);
    }
    expect(token.logins).toEqual(['9999']);
    writeFileSync(pinFile, '1234\n');
    await sign();
    await sign();
    expect(token.logins).toEqual(['9999', '1234']);
  });

  it('after the token lost its sessions: one new session and login, then signs', async () => {
    await sign();
    token.validFrom = token.nextSession;
    await expect(sign()).resolves.toEqual(Buffer.from('signature'));
    expect(token.logins).toEqual(['1234', '1234']);
  });

  it('at most 2 sessions, 2 signatures in the module, for any number of concurrent signatures', async () => {
    token.signDelayMs = 5;
    await Promise.all(Array.from({ length: 20 }, () => sign()));
    expect(token.maxOpen).toBe(2);
    expect(token.maxInSign).toBe(2);
    expect(token.logins).toEqual(['1234']);
  });

  it('names the PIN file, never the PIN', async () => {
    writeFileSync(pinFile, '9999\n');
    const error = (await sign().catch((e: unknown) => e)) as SignerError;
    expect(error).toBeInstanceOf(SignerError);
    expect(error.message).toContain(pinFile);
    expect(error.message).not.toContain('9999');
    expect(error.transient).toBe(false);
  });

  it('a token not present at first: the next signature looks again and signs', async () => {
    token.present = false;
    const error = (await sign().catch((e: unknown) => e)) as SignerError;
    expect(error.message).toMatch(/tokenLabel: no token labelled 'daemon'/);
    expect(error.transient).toBe(true);
    token.present = true;
    await expect(sign()).resolves.toEqual(Buffer.from('signature'));
    await expect(sign()).resolves.toEqual(Buffer.from('signature'));
    expect(token.slotLists).toBe(2);
    expect(token.logins).toEqual(['1234']);
  });

  it('a module not loadable at first (not mounted yet): the next signature loads it', async () => {
    token.loadable = false;
    await expect(sign()).rejects.toThrow(/modulePath: cannot load the PKCS#11 module/);
    await expect(sign()).rejects.toThrow(/modulePath: cannot load/);
    token.loadable = true;
    await expect(sign()).resolves.toEqual(Buffer.from('signature'));
    expect(token.slotLists).toBe(1);
  });

  it('callers that stop waiting while the device hangs leave the queue: nothing is signed for them', async () => {
    await sign();
    let answer!: () => void;
    token.hang = new Promise<void>((resolve) => (answer = resolve));
    const busy = Array.from({ length: 4 }, () => sign());
    await new Promise((r) => setImmediate(r));
    const leaving = Array.from({ length: 50 }, () => new AbortController());
    const left = leaving.map((c) => sign(c.signal).catch((e: unknown) => e));
    leaving.forEach((c, i) => c.abort(new Error(`caller ${i} gave up`)));
    const reasons = (await Promise.all(left)) as Error[];
    expect(reasons.map((e) => e.message)).toEqual(leaving.map((_, i) => `caller ${i} gave up`));
    expect(token.signInits).toBe(1 + 2);
    answer();
    await Promise.all(busy);
    await sign();
    expect(token.signInits).toBe(1 + 4 + 1);
    expect(token.maxOpen).toBe(2);
  });

  it('a signal aborted already: no session opened, nothing signed', async () => {
    await expect(sign(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(token.signInits).toBe(0);
    expect(token.nextSession).toBe(0);
  });

  it('initialises the module to lock: signatures run on several threads at once', async () => {
    await sign();
    expect(token.initFlags).toEqual([
      jest.requireActual<{ CKF_OS_LOCKING_OK: number }>('pkcs11js').CKF_OS_LOCKING_OK,
    ]);
  });
});

describe('Pkcs11Signer, a device that stops answering', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pkcs11-spec-'));
  const pinFile = join(dir, 'pin');
  const signers: Pkcs11Signer[] = [];
  const newSigner = () => {
    const s = new Pkcs11Signer({
      type: 'pkcs11',
      modulePath: '/fake/module.so',
      tokenLabel: 'daemon',
      keyLabel: 'k',
      pinFile,
    });
    signers.push(s);
    return s;
  };
  /** Lets every pending callback and I/O callback run. */
  const settled = () => new Promise((r) => setImmediate(r));
  /** What `p` has come to by now: its value or error, or 'pending'. */
  const state = async (p: Promise<unknown>) => {
    const seen = p.then(
      (v) => v,
      (e: unknown) => e,
    );
    return Promise.race([seen, settled().then(() => 'pending')]);
  };

  beforeEach(() => {
    Object.assign(token, freshToken());
    writeFileSync(pinFile, '1234\n');
  });
  afterEach(async () => {
    await Promise.all(signers.splice(0).map((s) => s.close()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds at most 2 of libuv threads, fails further signatures at once, and signs again once it answers', async () => {
    // Two signers (two credentials) on the device, logged in; four callers that time out, as
    // bounded() does.
    const [a, b] = [newSigner(), newSigner()];
    await Promise.all([a, b].map((s) => s.sign(Buffer.from('warm'), 'PS256')));
    let answer!: () => void;
    token.hang = new Promise<void>((resolve) => (answer = resolve));
    const callers = Array.from({ length: 4 }, () => new AbortController());
    const calls = callers.map((c, i) =>
      (i % 2 ? a : b)
        .sign(Buffer.from('x'), 'PS256', { signal: c.signal })
        .catch((e: unknown) => e),
    );
    await settled();
    // In the module: never more than 2, whatever the callers do.
    expect(token.inSign).toBe(2);
    callers.forEach((c, i) => c.abort(new Error(`caller ${i} timed out`)));
    // Every caller is free (bounded() would have rejected them anyway): none waits on the device.
    const reasons = (await Promise.all(calls)) as Error[];
    expect(reasons.every((e) => e instanceof Error)).toBe(true);
    expect(token.inSign).toBe(2);

    // A further signature: refused at once, transient, naming the module and the thread pool.
    const refused = (await state(a.sign(Buffer.from('y'), 'PS256'))) as SignerError;
    expect(refused).toBeInstanceOf(SignerError);
    expect(refused.transient).toBe(true);
    expect(refused.message).toMatch(/'\/fake\/module\.so' has not answered 2 signature/);
    expect(refused.message).toContain('UV_THREADPOOL_SIZE');
    expect(token.signInits).toBe(2 + 2);

    // The device answers: the sessions of the calls that timed out come back, and it signs.
    answer();
    await settled();
    expect(token.inSign).toBe(0);
    await expect(a.sign(Buffer.from('z'), 'PS256')).resolves.toEqual(Buffer.from('signature'));
    await expect(b.sign(Buffer.from('z'), 'PS256')).resolves.toEqual(Buffer.from('signature'));
    expect(token.maxInSign).toBe(2);
  });

  it('a call still running (not timed out) keeps later ones waiting, not refused', async () => {
    const s = newSigner();
    await s.sign(Buffer.from('warm'), 'PS256');
    let answer!: () => void;
    token.hang = new Promise<void>((resolve) => (answer = resolve));
    const first = new AbortController();
    const timedOut = s.sign(Buffer.from('1'), 'PS256', { signal: first.signal }).catch(() => 0);
    const running = s.sign(Buffer.from('2'), 'PS256');
    await settled();
    first.abort(new Error('timed out'));
    await timedOut;
    const later = s.sign(Buffer.from('3'), 'PS256');
    expect(await state(later)).toBe('pending');
    answer();
    await expect(running).resolves.toEqual(Buffer.from('signature'));
    await expect(later).resolves.toEqual(Buffer.from('signature'));
    expect(token.maxInSign).toBe(2);
  });

  it('closed while a signature is inside the device: the module is finalised after it returns', async () => {
    const s = newSigner();
    await s.sign(Buffer.from('warm'), 'PS256');
    let answer!: () => void;
    token.hang = new Promise<void>((resolve) => (answer = resolve));
    const caller = new AbortController();
    const left = s.sign(Buffer.from('1'), 'PS256', { signal: caller.signal }).catch(() => 0);
    await settled();
    caller.abort(new Error('timed out'));
    await left;
    await s.close();
    expect(token.finalized).toBe(0);
    answer();
    await settled();
    expect(token.finalized).toBe(1);
    expect(token.open).toBe(0);
  });
});
