import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Pkcs11SourceOptions, SignatureAlgorithm } from '../credential.options';
import { CertificateText } from './certificate-text';
import {
  ck,
  ckrOf,
  loadPkcs11Js,
  openModule,
  releaseModule,
  type Attribute,
  type Handle,
  type Pkcs11Js,
  type Pkcs11Library,
} from './pkcs11-module';
import { SignerError } from './signer-error';

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2): RS256 signs it with the digest. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
/** Sessions open at most per signer: concurrent signatures beyond wait for one. */
const MAX_SESSIONS = 4;
/** Errors after which the token's sessions, login and handles are gone: open, log in, find again. */
const LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_REMOVED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_TOKEN_NOT_RECOGNIZED',
]);
/** Errors of a device that may work again without a change of configuration. */
const TRANSIENT = new Set([
  ...LOST,
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_FUNCTION_FAILED',
]);

/** The open state of the token: its slot, the key, and sessions logged in. */
interface Opened {
  slot: Handle;
  key: Handle;
  idle: Handle[];
  open: number;
  /** Callers waiting for a session; given `null` when the state is dropped (they start over). */
  waiting: ((session: Handle | null) => void)[];
  /** The token's sessions were lost: sessions given back are closed, not reused. */
  stale: boolean;
}

/**
 * Signs with a private key on a PKCS#11 token (an HSM, a smart card, SoftHSM) that never leaves it:
 * only digests go in and signatures come out (RSA PKCS#1 v1.5 and PSS, ECDSA; the digest is
 * computed here, the most widely supported way). The token is found by label (or slot id), the key
 * by label (or id); one login per token, up to 4 sessions pooled. After the token was removed or
 * its sessions closed, the next signature opens, logs in and finds the key again.
 *
 * A PIN the token refused is not presented again until the PIN itself changes (the file or the
 * variable): a token locks its PIN after a few wrong ones. The PIN is read at each login, never
 * kept in a field, never logged.
 */
export class Pkcs11Signer {
  #module?: Pkcs11Js;
  #library?: Pkcs11Library;
  #opened?: Promise<Opened>;
  readonly #certificate?: CertificateText;
  #tokenCertificate?: string;
  /** The hash of a PIN the token refused, with why: no login with that PIN again. */
  #refusedPin?: { hash: string; error: SignerError };
  #closed = false;

  constructor(private readonly options: Pkcs11SourceOptions) {
    if (options.certificatePath !== undefined) {
      this.#certificate = new CertificateText({ path: options.certificatePath }, 'certificatePath');
    } else if (options.certificate !== undefined) {
      this.#certificate = new CertificateText({ pem: options.certificate }, 'certificate');
    }
  }

  /** pkcs11js, loaded on first use: a missing package is a problem of the source, reported then. */
  get #js(): Pkcs11Js {
    return (this.#module ??= loadPkcs11Js());
  }

  /** The key's certificate: from the options' file or text, else the token's certificate object. */
  async getCertificate(): Promise<string> {
    if (this.#certificate !== undefined) return this.#certificate.read();
    if (this.#tokenCertificate !== undefined) return this.#tokenCertificate;
    return this.withSession(async (session, opened) => {
      this.#tokenCertificate ??= this.certificateOnToken(session, opened.key);
      return this.#tokenCertificate;
    });
  }

  async sign(data: Uint8Array, algorithm: SignatureAlgorithm): Promise<Uint8Array> {
    const digest = createHash('sha256').update(data).digest();
    const js = this.#js;
    const mechanism =
      algorithm === 'ES256'
        ? { mechanism: ck(js, 'CKM_ECDSA') }
        : algorithm === 'RS256'
          ? { mechanism: ck(js, 'CKM_RSA_PKCS') }
          : {
              mechanism: ck(js, 'CKM_RSA_PKCS_PSS'),
              parameter: {
                type: ck(js, 'CK_PARAMS_RSA_PSS'),
                hashAlg: ck(js, 'CKM_SHA256'),
                mgf: ck(js, 'CKG_MGF1_SHA256'),
                saltLen: 32,
              },
            };
    const input = algorithm === 'RS256' ? Buffer.concat([SHA256_DIGEST_INFO, digest]) : digest;
    return this.withSession(async (session, opened) => {
      const library = this.#library!;
      try {
        library.C_SignInit(session, mechanism, opened.key);
        return Buffer.from(await library.C_SignAsync(session, input, Buffer.alloc(1024)));
      } catch (e) {
        throw this.failure('sign', e);
      }
    });
  }

  describe(): Record<string, unknown> {
    const o = this.options;
    return {
      modulePath: o.modulePath,
      ...(o.tokenLabel === undefined ? { slot: o.slot } : { tokenLabel: o.tokenLabel }),
      ...(o.keyLabel === undefined ? { keyId: o.keyId } : { keyLabel: o.keyLabel }),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const opened = await this.#opened?.catch(() => undefined);
    this.#opened = undefined;
    for (const session of opened?.idle ?? []) this.closeSession(session);
    if (this.#library !== undefined) releaseModule(this.options.modulePath);
    this.#library = undefined;
  }

  /**
   * `work` with a logged-in session of the token; once more after the token's sessions were lost
   * (a token removed and inserted again, sessions closed by another application).
   */
  private async withSession<T>(work: (session: Handle, opened: Opened) => Promise<T>): Promise<T> {
    let reopened = false;
    for (;;) {
      if (this.#closed) {
        throw new SignerError('the source is closed (the application is shutting down)');
      }
      const opened = await (this.#opened ??= this.open());
      const session = await this.acquire(opened);
      // The state was dropped while this call waited for a session: start over with the new one.
      if (session === null) continue;
      try {
        const result = await work(session, opened);
        this.giveBack(opened, session);
        return result;
      } catch (e) {
        const ckr = ckrOf(this.#js, e);
        if (ckr !== undefined && LOST.has(ckr) && !reopened) {
          reopened = true;
          this.forget(opened, session);
          continue;
        }
        this.giveBack(opened, session);
        throw e;
      }
    }
  }

  /** Finds the token and the key, with a first session logged in. */
  private async open(): Promise<Opened> {
    try {
      this.#library ??= openModule(this.#js, this.options.modulePath);
      const slot = this.findSlot();
      const session = this.openSession(slot);
      try {
        await this.login(session);
        const key = this.findKey(session);
        return { slot, key, idle: [session], open: 1, waiting: [], stale: false };
      } catch (e) {
        this.closeSession(session);
        throw e;
      }
    } catch (e) {
      this.#opened = undefined;
      throw e;
    }
  }

  private findSlot(): Handle {
    const library = this.#library!;
    const o = this.options;
    let slots: Handle[];
    try {
      slots = library.C_GetSlotList(true);
    } catch (e) {
      throw this.failure('list slots', e);
    }
    const slot = slots.find((s) =>
      o.tokenLabel !== undefined
        ? library.C_GetTokenInfo(s).label.trim() === o.tokenLabel
        : s.readUIntLE(0, Math.min(s.length, 6)) === o.slot,
    );
    if (slot === undefined) {
      const which = o.tokenLabel !== undefined ? `labelled '${o.tokenLabel}'` : `in slot ${o.slot}`;
      // A token may be out of its reader for a moment: worth trying again later.
      throw new SignerError(
        `${o.tokenLabel !== undefined ? 'tokenLabel' : 'slot'}: no token ${which} is present (${slots.length} token(s) seen) — insert it, or check the label (softhsm2-util --show-slots, pkcs11-tool -L)`,
        true,
      );
    }
    return slot;
  }

  private openSession(slot: Handle): Handle {
    try {
      return this.#library!.C_OpenSession(slot, ck(this.#js, 'CKF_SERIAL_SESSION'));
    } catch (e) {
      throw this.failure('open a session', e);
    }
  }

  /** Logs the token in with the PIN as it is now; a PIN it refused before is not tried again. */
  private async login(session: Handle): Promise<void> {
    const pin = await this.readPin();
    const hash = createHash('sha256').update(pin).digest('hex');
    if (this.#refusedPin?.hash === hash) throw this.#refusedPin.error;
    try {
      this.#library!.C_Login(session, ck(this.#js, 'CKU_USER'), pin);
    } catch (e) {
      const ckr = ckrOf(this.#js, e);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
      const error = this.pinFailure(ckr, e);
      if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_LOCKED' || ckr === 'CKR_PIN_INVALID') {
        this.#refusedPin = { hash, error };
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

  private pinFailure(ckr: string | undefined, e: unknown): SignerError {
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
        return this.failure('log in', e);
    }
  }

  private findKey(session: Handle): Handle {
    const js = this.#js;
    const o = this.options;
    const template: Attribute[] = [
      { type: ck(js, 'CKA_CLASS'), value: ck(js, 'CKO_PRIVATE_KEY') },
      o.keyLabel !== undefined
        ? { type: ck(js, 'CKA_LABEL'), value: o.keyLabel }
        : { type: ck(js, 'CKA_ID'), value: Buffer.from(o.keyId!, 'hex') },
    ];
    const found = this.find(session, template);
    const name = o.keyLabel !== undefined ? `labelled '${o.keyLabel}'` : `with id ${o.keyId}`;
    const field = o.keyLabel !== undefined ? 'keyLabel' : 'keyId';
    if (found.length === 0) {
      throw new SignerError(
        `${field}: no private key ${name} on the token — check the label or id (pkcs11-tool -O --login), and that the PIN is the token user's`,
      );
    }
    if (found.length > 1) {
      throw new SignerError(
        `${field}: ${found.length} private keys ${name} on the token — name the key by keyId (its CKA_ID), which is unique`,
      );
    }
    return found[0];
  }

  /** The certificate object with the key's `CKA_ID`, as PEM. */
  private certificateOnToken(session: Handle, key: Handle): string {
    const js = this.#js;
    let id: Buffer | undefined;
    try {
      const [attr] = this.#library!.C_GetAttributeValue(session, key, [{ type: ck(js, 'CKA_ID') }]);
      id = attr?.value as Buffer | undefined;
    } catch (e) {
      throw this.failure('read the key', e);
    }
    const template: Attribute[] = [{ type: ck(js, 'CKA_CLASS'), value: ck(js, 'CKO_CERTIFICATE') }];
    if (id !== undefined && id.length > 0) template.push({ type: ck(js, 'CKA_ID'), value: id });
    else if (this.options.keyLabel !== undefined) {
      template.push({ type: ck(js, 'CKA_LABEL'), value: this.options.keyLabel });
    }
    const [cert] = this.find(session, template);
    if (cert === undefined) {
      throw new SignerError(
        "certificatePath: the token holds no certificate with the key's id — import it next to the key (pkcs11-tool --write-object cert.der --type cert --id <id>), or set certificatePath",
      );
    }
    const [value] = this.#library!.C_GetAttributeValue(session, cert, [
      { type: ck(js, 'CKA_VALUE') },
    ]);
    return new X509Certificate(value.value as Buffer).toString();
  }

  private find(session: Handle, template: Attribute[]): Handle[] {
    const library = this.#library!;
    try {
      library.C_FindObjectsInit(session, template);
      try {
        return library.C_FindObjects(session, 2);
      } finally {
        library.C_FindObjectsFinal(session);
      }
    } catch (e) {
      throw this.failure('find objects', e);
    }
  }

  /** An idle session, a new one (up to {@link MAX_SESSIONS}), or the next one given back. */
  private async acquire(opened: Opened): Promise<Handle | null> {
    if (opened.stale) return null;
    const idle = opened.idle.pop();
    if (idle !== undefined) return idle;
    if (opened.open < MAX_SESSIONS) {
      opened.open++;
      try {
        // The login holds for every session of the application on the token.
        return this.openSession(opened.slot);
      } catch (e) {
        opened.open--;
        throw e;
      }
    }
    return new Promise((resolve) => opened.waiting.push(resolve));
  }

  private giveBack(opened: Opened, session: Handle): void {
    if (opened.stale) {
      this.closeSession(session);
      return;
    }
    const next = opened.waiting.shift();
    if (next !== undefined) next(session);
    else opened.idle.push(session);
  }

  /** The token's sessions are gone: the next call opens, logs in and finds the key again. */
  private forget(opened: Opened, session: Handle): void {
    opened.stale = true;
    this.closeSession(session);
    for (const s of opened.idle.splice(0)) this.closeSession(s);
    for (const waiter of opened.waiting.splice(0)) waiter(null);
    this.#tokenCertificate = undefined;
    if (this.#opened !== undefined) {
      void this.#opened.then((current) => {
        if (current === opened) this.#opened = undefined;
      });
    }
  }

  private closeSession(session: Handle): void {
    try {
      this.#library?.C_CloseSession(session);
    } catch {
      // Already closed with the token's other sessions.
    }
  }

  private failure(what: string, e: unknown): SignerError {
    if (e instanceof SignerError) return e;
    const ckr = ckrOf(this.#js, e);
    const why = ckr ?? (e as Error)?.message?.split('\n')[0] ?? String(e);
    const error = new SignerError(
      `the PKCS#11 module failed to ${what} (${why}) — check the token and the module's log`,
      ckr === undefined || TRANSIENT.has(ckr),
      { cause: e },
    );
    return error;
  }
}
