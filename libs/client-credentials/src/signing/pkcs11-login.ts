import { createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Pkcs11SourceOptions } from '../credential.options';
import { ck, ckrOf, type Handle, type Pkcs11Js, type Pkcs11Library } from './pkcs11-module';
import { pkcs11Failure } from './pkcs11-token';
import { SignerError } from './signer-error';

/**
 * The key that makes a refused PIN recognisable without keeping it: random per process, in native
 * memory (a KeyObject, not in the JavaScript heap). A plain hash of a 6-digit PIN is reversed by
 * trying a million PINs; its HMAC is not, without this key.
 */
const PIN_KEY = (() => {
  const bytes = randomBytes(32);
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
})();

/** The HMAC-SHA-256 of `pin` under the process's {@link PIN_KEY}. */
function pinMac(pin: string): Buffer {
  return createHmac('sha256', PIN_KEY).update(pin).digest();
}

/**
 * The user login of a PKCS#11 token. The PIN is read from its file or variable at each login and
 * kept nowhere; a PIN the token refused is not presented again until it changes (the file or the
 * variable): a token locks its PIN after a few wrong ones. To recognise it, only its HMAC under a
 * random key of the process is kept.
 */
export class PinLogin {
  /** The HMAC of a PIN the token refused, with why: no login with that PIN again. */
  #refusedPin?: { mac: Buffer; error: SignerError };

  constructor(private readonly options: Pkcs11SourceOptions) {}

  /** Logs the token in with the PIN as it is now; a PIN it refused before is not tried again. */
  async login(js: Pkcs11Js, library: Pkcs11Library, session: Handle): Promise<void> {
    const pin = await this.readPin();
    const mac = pinMac(pin);
    const refused = this.#refusedPin;
    if (refused !== undefined && timingSafeEqual(refused.mac, mac)) throw refused.error;
    try {
      library.C_Login(session, ck(js, 'CKU_USER'), pin);
    } catch (e) {
      const ckr = ckrOf(js, e);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
      const error = this.pinFailure(js, ckr, e);
      if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_LOCKED' || ckr === 'CKR_PIN_INVALID') {
        this.#refusedPin = { mac, error };
      }
      throw error;
    }
    this.#refusedPin = undefined;
  }

  private async readPin(): Promise<string> {
    const o = this.options;
    if (o.pinEnv !== undefined) {
      const pin = process.env[o.pinEnv];
      if (pin === undefined || pin === '') {
        throw new SignerError(
          `pinEnv: the variable ${o.pinEnv} is not set — set it to the token's user PIN`,
        );
      }
      return pin;
    }
    try {
      return (await readFile(o.pinFile!, 'utf8')).replace(/\r?\n$/, '');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new SignerError(
        `pinFile: cannot read '${o.pinFile}' (${code}) — point it at a readable file holding the token's user PIN`,
        false,
        { cause: e },
      );
    }
  }

  private pinFailure(js: Pkcs11Js, ckr: string | undefined, e: unknown): SignerError {
    const where =
      this.options.pinEnv !== undefined
        ? `pinEnv (${this.options.pinEnv})`
        : `pinFile ('${this.options.pinFile}')`;
    const field = this.options.pinEnv !== undefined ? 'pinEnv' : 'pinFile';
    switch (ckr) {
      case 'CKR_PIN_INCORRECT':
        return new SignerError(
          `${field}: the token refused the PIN (CKR_PIN_INCORRECT) — check the PIN of ${where}; it is not presented again until it changes, as a token locks its PIN after a few wrong ones`,
        );
      case 'CKR_PIN_LOCKED':
        return new SignerError(
          `${field}: the token's user PIN is locked (CKR_PIN_LOCKED) — unlock or reset it with the security officer PIN (the HSM's tools; SoftHSM: softhsm2-util --init-token again)`,
        );
      case 'CKR_PIN_EXPIRED':
        return new SignerError(
          `${field}: the token's user PIN has expired (CKR_PIN_EXPIRED) — set a new PIN with the HSM's tools and update ${where}`,
        );
      default:
        return pkcs11Failure(js, 'log in', e);
    }
  }
}
