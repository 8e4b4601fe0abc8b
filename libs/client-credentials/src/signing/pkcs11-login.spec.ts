import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { getHeapSnapshot } from 'node:v8';
import { PinLogin } from './pkcs11-login';
import type { Pkcs11Js, Pkcs11Library } from './pkcs11-module';

/**
 * The lowercase hex of `bytes` as ASCII bytes, never as a string: the probe itself must not put
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

const js = { CKU_USER: 1 } as unknown as Pkcs11Js;

/** A token that refuses every PIN, recording those presented. */
function refusingLibrary(presented: string[]): Pkcs11Library {
  return {
    C_Login: (_s: Buffer, _u: number, pin: string) => {
      presented.push(pin);
      throw new Error('CKR_PIN_INCORRECT');
    },
  } as unknown as Pkcs11Library;
}

/**
 * The heap check, run in a process of its own (this file, with PIN_HEAP_PROBE set): a snapshot of
 * a jest worker's heap — hundreds of MB after other suites — takes a minute; a fresh process's,
 * well under a second. Prints what the parent asserts.
 */
async function probe(): Promise<void> {
  const presented: string[] = [];
  const library = refusingLibrary(presented);
  const login = new PinLogin({ type: 'pkcs11', pinEnv: 'PIN_LOGIN_SPEC_PIN' } as never);
  const outcomes: string[] = [];
  for (let i = 0; i < 2; i++) {
    await login.login(js, library, Buffer.alloc(4)).then(
      () => outcomes.push('ok'),
      (e: Error) => outcomes.push(e.message.includes('CKR_PIN_INCORRECT') ? 'refused' : e.message),
    );
  }
  // A hash of a 6-digit PIN is reversed by hashing the million candidates.
  const sha256 = createHash('sha256').update(process.env.PIN_LOGIN_SPEC_PIN!).digest();
  const held = await heapHolds(hexBytes(sha256));
  process.stdout.write(JSON.stringify({ presented: presented.length, outcomes, held }));
}

if (process.env.PIN_HEAP_PROBE === '1') {
  void probe();
} else {
  describe('PinLogin', () => {
    afterEach(() => delete process.env.PIN_LOGIN_SPEC_PIN);

    it('recognises a refused PIN without keeping a hash that reveals it', async () => {
      // TypeScript through @swc/core's transform, hooked by hand: @swc-node/register loads the
      // TypeScript compiler into the heap, and its snapshot then takes ~30 s instead of ~0.2 s.
      const hook = [
        "const swc = require('@swc/core'), fs = require('node:fs');",
        "require.extensions['.ts'] = (m, f) => m._compile(swc.transformSync(fs.readFileSync(f, 'utf8'),",
        "  { filename: f, module: { type: 'commonjs' }, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }).code, f);",
        `require(${JSON.stringify(__filename)});`,
      ].join('\n');
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['-e', hook],
          { env: { ...process.env, PIN_HEAP_PROBE: '1', PIN_LOGIN_SPEC_PIN: '482915' } },
          (error, stdout) => (error ? reject(new Error(error.message)) : resolve(stdout)),
        ),
      );
      // Presented once, refused twice (the second time without presenting it), and no SHA-256
      // of it anywhere in the heap.
      expect(JSON.parse(out)).toEqual({
        presented: 1,
        outcomes: ['refused', 'refused'],
        held: false,
      });
    });

    it('presents a changed PIN again', async () => {
      const presented: string[] = [];
      const library = refusingLibrary(presented);
      process.env.PIN_LOGIN_SPEC_PIN = '482915';
      const login = new PinLogin({ type: 'pkcs11', pinEnv: 'PIN_LOGIN_SPEC_PIN' } as never);
      await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
      await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
      process.env.PIN_LOGIN_SPEC_PIN = '482916';
      await expect(login.login(js, library, Buffer.alloc(4))).rejects.toThrow(/CKR_PIN_INCORRECT/);
      expect(presented).toEqual(['482915', '482916']);
    });
  });
}
