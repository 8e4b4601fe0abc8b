import { createHash } from 'node:crypto';
import type { Pkcs11SourceOptions, SignatureAlgorithm } from '../credential.options';
import { CertificateText } from './certificate-text';
import { TokenCertificate } from './pkcs11-certificate';
import { deviceCalls, MAX_DEVICE_CALLS } from './pkcs11-device-calls';
import { PinLogin } from './pkcs11-login';
import {
  ck,
  ckrOf,
  loadPkcs11Js,
  openModule,
  releaseModule,
  type Handle,
  type Pkcs11Js,
  type Pkcs11Library,
} from './pkcs11-module';
import {
  certificateOnToken,
  findKey,
  findSlot,
  LOST,
  pkcs11Failure,
  signMechanism,
} from './pkcs11-token';
import { SignerError } from './signer-error';

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2): RS256 signs it with the digest. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
/**
 * Sessions open at most per signer: concurrent signatures beyond wait for one. No more can sign at
 * once ({@link MAX_DEVICE_CALLS} in the process).
 */
const MAX_SESSIONS = MAX_DEVICE_CALLS;
/** The open state of the token: its slot, the key, and sessions logged in. */
interface Opened {
  slot: Handle;
  key: Handle;
  idle: Handle[];
  open: number;
  /**
   * Callers waiting for a session; given `null` when the state is dropped (they start over). A
   * caller whose signal aborts takes itself out: no session is handed to one that left.
   */
  waiting: ((session: Handle | null) => void)[];
  /** The token's sessions were lost: sessions given back are closed, not reused; reopened next. */
  stale: boolean;
}

/**
 * Signs with a private key on a PKCS#11 token (an HSM, a smart card, SoftHSM) that never leaves it:
 * only digests go in and signatures come out (RSA PKCS#1 v1.5 and PSS, ECDSA; the digest is
 * computed here, the most widely supported way). The token is found by label (or slot id), the key
 * by label (or id); one login per token, up to 2 sessions pooled. After the token was removed or
 * its sessions closed, the next signature opens, logs in and finds the key again; an opening that
 * failed (module not mounted yet, token not inserted) is tried again by the next signature.
 * `sign`'s `signal` takes a caller that stopped waiting out of the queue for a session: nothing is
 * signed for it after. Signatures inside modules are bounded in the process ({@link deviceCalls}):
 * one whose caller left still counts, and keeps its session, until the device answers it.
 * Without a certificate in the options, the token's certificate object is read again every 5
 * minutes and after the authority refused the credential ({@link TokenCertificate}).
 *
 * A PIN the token refused is not presented again until the PIN itself changes (the file or the
 * variable): a token locks its PIN after a few wrong ones. The PIN is read at each login, never
 * kept (of a refused one, only an HMAC under a random key of the process), never logged.
 */
export class Pkcs11Signer {
  #module?: Pkcs11Js;
  #library?: Pkcs11Library;
  #opened?: Promise<Opened>;
  readonly #certificate?: CertificateText;
  readonly #tokenCertificate: TokenCertificate;
  readonly #login: PinLogin;
  #closed = false;
  /** Signatures inside the module, their callers gone or not: the module is finalised after them. */
  readonly #inModule = new Set<Promise<Buffer>>();

  constructor(
    private readonly options: Pkcs11SourceOptions,
    /** The longest a read of the token's certificate may wait (`timeouts.requestMs`). */
    readMs = 10_000,
  ) {
    this.#tokenCertificate = new TokenCertificate(
      (setAside, signal) =>
        this.withSession(signal, async (session, opened) =>
          certificateOnToken(this.#js, this.#library!, session, opened.key, options, setAside),
        ),
      readMs,
    );
    this.#login = new PinLogin(options);
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
    // Not read while the device leaves signatures unanswered: the read's calls run on the main
    // thread, and would hang it too.
    return this.#tokenCertificate.get(deviceCalls.unanswered(this.options.modulePath) === 0);
  }

  /**
   * The authority refused the credential: the token's certificate is read again before use and,
   * when the refusal was of the certificate (`certificate`), passed over while another fits.
   */
  certificateRejected(certificate = true): void {
    this.#tokenCertificate.recheck(certificate);
  }

  async sign(
    data: Uint8Array,
    algorithm: SignatureAlgorithm,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    const { signal } = options;
    signal?.throwIfAborted();
    const digest = createHash('sha256').update(data).digest();
    const mechanism = signMechanism(this.#js, algorithm);
    const input = algorithm === 'RS256' ? Buffer.concat([SHA256_DIGEST_INFO, digest]) : digest;
    // The native call runs on a libuv thread and cannot be cancelled: its place (and its session)
    // is held until it returns, even when the caller leaves.
    return deviceCalls.run(this.options.modulePath, signal, () =>
      this.withSession(signal, async (session, opened) => {
        // Given a session after the caller left: sign nothing for it.
        signal?.throwIfAborted();
        const library = this.#library!;
        try {
          library.C_SignInit(session, mechanism, opened.key);
          const signing = library.C_SignAsync(session, input, Buffer.alloc(1024));
          this.#inModule.add(signing);
          const out = () => this.#inModule.delete(signing);
          signing.then(out, out);
          return Buffer.from(await signing);
        } catch (e) {
          throw pkcs11Failure(this.#js, 'sign', e);
        }
      }),
    );
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
    const release = () => {
      if (this.#library !== undefined) releaseModule(this.options.modulePath);
      this.#library = undefined;
    };
    // A signature left inside a device that hangs runs on a libuv thread: finalising the module
    // under it could crash the process. It is finalised once the signature returns (or never).
    if (this.#inModule.size === 0) release();
    else void Promise.allSettled([...this.#inModule]).then(release);
  }

  /**
   * `work` with a logged-in session of the token; once more after the token's sessions were lost
   * (a token removed and inserted again, sessions closed by another application).
   */
  private async withSession<T>(
    signal: AbortSignal | undefined,
    work: (session: Handle, opened: Opened) => Promise<T>,
  ): Promise<T> {
    let reopened = false;
    for (;;) {
      if (this.#closed) {
        throw new SignerError('the source is closed (the application is shutting down)');
      }
      const opening = this.opening();
      const opened = await opening;
      if (opened.stale) {
        // Its sessions were lost: the next turn opens, logs in and finds the key again.
        if (this.#opened === opening) this.#opened = undefined;
        continue;
      }
      const session = await this.acquire(opened, signal);
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

  /**
   * The token's open state, one opening shared by concurrent callers. An opening that failed is
   * forgotten once it settles, so the next call tries again (a module mounted, a token inserted
   * since); `open` may fail before its first `await`, so it is forgotten here, by the caller that
   * stored it, and only if it is still the one stored.
   */
  private opening(): Promise<Opened> {
    const current = this.#opened;
    if (current !== undefined) return current;
    const opening = this.open();
    this.#opened = opening;
    opening.catch(() => {
      if (this.#opened === opening) this.#opened = undefined;
    });
    return opening;
  }

  /** Finds the token and the key, with a first session logged in. */
  private async open(): Promise<Opened> {
    this.#library ??= openModule(this.#js, this.options.modulePath);
    const slot = findSlot(this.#js, this.#library, this.options);
    const session = this.openSession(slot);
    try {
      await this.#login.login(this.#js, this.#library, session);
      const key = findKey(this.#js, this.#library, session, this.options);
      return { slot, key, idle: [session], open: 1, waiting: [], stale: false };
    } catch (e) {
      this.closeSession(session);
      throw e;
    }
  }

  private openSession(slot: Handle): Handle {
    try {
      return this.#library!.C_OpenSession(slot, ck(this.#js, 'CKF_SERIAL_SESSION'));
    } catch (e) {
      throw pkcs11Failure(this.#js, 'open a session', e);
    }
  }

  /**
   * An idle session, a new one (up to {@link MAX_SESSIONS}), or the next one given back — unless
   * `signal` aborts first: then the caller leaves the queue, rejected with the signal's reason.
   */
  private async acquire(opened: Opened, signal?: AbortSignal): Promise<Handle | null> {
    signal?.throwIfAborted();
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
    return new Promise((resolve, reject) => {
      const waiter = (session: Handle | null) => {
        signal?.removeEventListener('abort', leave);
        resolve(session);
      };
      const leave = () => {
        const at = opened.waiting.indexOf(waiter);
        if (at >= 0) opened.waiting.splice(at, 1);
        // The signal's own reason, as an aborted fetch or timer rejects.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an AbortSignal's reason is the caller's to choose
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', leave, { once: true });
      opened.waiting.push(waiter);
    });
  }

  private giveBack(opened: Opened, session: Handle): void {
    if (opened.stale || this.#closed) {
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
    this.#tokenCertificate.recheck();
  }

  private closeSession(session: Handle): void {
    try {
      this.#library?.C_CloseSession(session);
    } catch {
      // Already closed with the token's other sessions.
    }
  }
}
