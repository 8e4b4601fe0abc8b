import { now } from '../timing/clock';

/**
 * How often the certificate object on a token is read again: a certificate renewed for the same key
 * (re-issued, the object replaced) is used from the next read on. Once per assertion-reuse window;
 * a read is a few calls into the module on an idle session.
 */
export const CERTIFICATE_CHECK_MS = 5 * 60_000;

/**
 * The key's certificate as the token holds it (PEM), read again every {@link CERTIFICATE_CHECK_MS}
 * and after {@link recheck} (the authority refused the credential, the token's sessions were lost),
 * one read at a time. A read that fails keeps the certificate read before (an object being
 * replaced may be missing for a moment), and the next call reads again; callers are not made to
 * wait for a read while a certificate is known.
 */
export class TokenCertificate {
  #pem?: string;
  #checkAt = 0;
  #reading?: Promise<string>;

  constructor(private readonly read: () => Promise<string>) {}

  /**
   * The certificate; read from the token when none is known or it is due (and `mayRead`: not while
   * the device leaves calls unanswered — the module's other calls run on the main thread).
   */
  async get(mayRead: boolean): Promise<string> {
    const known = this.#pem;
    if (known !== undefined && (!mayRead || this.#reading !== undefined || now() < this.#checkAt)) {
      return known;
    }
    const reading = (this.#reading ??= this.read()
      .then((pem) => {
        this.#pem = pem;
        this.#checkAt = now() + CERTIFICATE_CHECK_MS;
        return pem;
      })
      .finally(() => (this.#reading = undefined)));
    return known === undefined ? reading : reading.catch(() => known);
  }

  /** Read it again at the next {@link get}. */
  recheck(): void {
    this.#checkAt = 0;
  }
}
