import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11Signer } from './pkcs11-signer';
import { SignerError } from './signer-error';

/** A PKCS#11 module in memory, counting what the signer asks of it. */
const token = {
  pin: '1234',
  logins: [] as string[],
  open: 0,
  maxOpen: 0,
  /** Sessions opened before this number are gone (the token was removed). */
  validFrom: 0,
  nextSession: 0,
  signDelayMs: 0,
};

jest.mock('pkcs11js', () => {
  const actual = jest.requireActual<Record<string, unknown>>('pkcs11js');
  const fail = (name: string) => new Error(`${name}:${String(actual[name])}`);
  const valid = (session: Buffer) => {
    if (session.readUInt32LE(0) < token.validFrom) throw fail('CKR_SESSION_HANDLE_INVALID');
  };
  class PKCS11 {
    load() {}
    C_Initialize() {}
    C_Finalize() {}
    C_GetSlotList() {
      return [Buffer.from([1, 0, 0, 0])];
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
      valid(session);
    }
    async C_SignAsync(session: Buffer) {
      valid(session);
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
  const sign = () => signer.sign(Buffer.from('header.payload'), 'PS256');

  beforeEach(() => {
    Object.assign(token, {
      logins: [],
      open: 0,
      maxOpen: 0,
      validFrom: 0,
      nextSession: 0,
      signDelayMs: 0,
    });
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
});
