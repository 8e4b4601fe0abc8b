import { createHash } from 'node:crypto';
import { getHeapSnapshot } from 'node:v8';
import { PinLogin } from './pkcs11-login';
import type { Pkcs11Js, Pkcs11Library } from './pkcs11-module';

/**
 * The lowercase hex of `bytes` as ASCII bytes, never as a string: the spec itself must not put
 * the text it looks for into the heap.
 */
function hexBytes(bytes: Buffer): Buffer {
  const digits = Buffer.from('0123456789abcdef');
  const out = Buffer.alloc(bytes.length * 2);
  bytes.forEach((b, i) => {
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 15];
  });
  return out;
}

/** Whether the JavaScript heap holds `needle` anywhere (a heap dump, as an attacker reads it). */
async function heapHolds(needle: Buffer): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of getHeapSnapshot()) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    if (window.includes(needle)) return true;
    tail = window.subarray(-needle.length);
  }
  return false;
}

describe('PinLogin', () => {
  const js = { CKU_USER: 1 } as unknown as Pkcs11Js;
  let presented: string[];
  const library = {
    C_Login: (_s: Buffer, _u: number, pin: string) => {
      presented.push(pin);
      throw new Error('CKR_PIN_INCORRECT');
    },
  } as unknown as Pkcs11Library;

  beforeEach(() => (presented = []));
  afterEach(() => delete process.env.PIN_LOGIN_SPEC_PIN);

  it('recognises a refused PIN without keeping a hash that reveals it', async () => {
    process.env.PIN_LOGIN_SPEC_PIN = '482915';
    const login = new PinLogin({ type: 'pkcs11', pinEnv: 'PIN_LOGIN_SPEC_PIN' } as never);
    await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
    await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
    expect(presented).toEqual(['482915']);
    // A hash of a 6-digit PIN is reversed by hashing the million candidates.
    const sha256 = createHash('sha256').update('482915').digest();
    expect(await heapHolds(hexBytes(sha256))).toBe(false);
    process.env.PIN_LOGIN_SPEC_PIN = '482916';
    await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
    expect(presented).toEqual(['482915', '482916']);
  });
});
