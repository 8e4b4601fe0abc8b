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
    C_Finalize() {}
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
    C_FindObjectsInit() {}
    C_FindObjects() {
      return [Buffer.from([9])];
    }
    C_FindObjectsFinal() {}
    C_GetAttributeValue() {
      return [];
    }
    C_SignInit(session: Buffer) {
      token.signInits++;
      valid(session);
    }
    async C_SignAsync(session: Buffer) {
      valid(session);
      await token.hang;
      await new Promise((r) => setTimeout(r, token.signDelayMs));
      return Buffer.from('signature');
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

  it('at most 4 sessions for any number of concurrent signatures', async () => {
    token.signDelayMs = 5;
    await Promise.all(Array.from({ length: 20 }, () => sign()));
    expect(token.maxOpen).toBe(4);
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
    let answer!: () => void;
    token.hang = new Promise<void>((resolve) => (answer = resolve));
    const busy = Array.from({ length: 4 }, () => sign());
    const leaving = Array.from({ length: 50 }, () => new AbortController());
    const left = leaving.map((c) => sign(c.signal).catch((e: unknown) => e));
    leaving.forEach((c, i) => c.abort(new Error(`caller ${i} gave up`)));
    const reasons = (await Promise.all(left)) as Error[];
    expect(reasons.map((e) => e.message)).toEqual(leaving.map((_, i) => `caller ${i} gave up`));
    expect(token.signInits).toBe(4);
    answer();
    await Promise.all(busy);
    await sign();
    expect(token.signInits).toBe(5);
    expect(token.maxOpen).toBe(4);
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
