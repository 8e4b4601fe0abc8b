import type { X509Certificate } from 'node:crypto';
import { now } from '../timing/clock';
import { after } from '../timing/timers';

/**
 * How often the certificate object on a token is read again: a certificate renewed for the same key
 * (re-issued, imported beside the old one or in its place) is used from the next read on. Once per
 * assertion-reuse window; a read is a few calls into the module on an idle session.
 */
export const CERTIFICATE_CHECK_MS = 5 * 60_000;
/** Certificates the authority refused that are remembered, to be passed over while another fits. */
const SET_ASIDE_MAX = 8;

/**
 * Reads the token's certificate: `setAside` holds the PEM of those the authority refused, `signal`
 * aborts when the read took too long (it leaves the queue for a session).
 */
export type ReadCertificate = (
  setAside: ReadonlySet<string>,
  signal: AbortSignal,
) => Promise<string>;

/**
 * The key's certificate as the token holds it (PEM), read again every {@link CERTIFICATE_CHECK_MS}
 * and after {@link recheck} (the authority refused the credential, the token's sessions were lost),
 * one read at a time, each bounded by `readMs`. A due check is made in the background: callers get
 * the certificate known at once, the one read is used from the next call on. Only after the
 * authority refused the known one do callers wait for the read (bounded), and a certificate it
 * refused is set aside while the token holds another candidate. A read that fails keeps the
 * certificate read before (an object being replaced may be missing for a moment), and the next
 * call reads again.
 */
export class TokenCertificate {
  #pem?: string;
  #checkAt = 0;
  /** The authority refused the known certificate: the next call waits for a read. */
  #refused = false;
  #reading?: Promise<string>;
  readonly #setAside = new Set<string>();

  constructor(
    private readonly read: ReadCertificate,
    private readonly readMs: number,
  ) {}

  /**
   * The certificate; read from the token when none is known or it is due (and `mayRead`: not while
   * the device leaves calls unanswered — the module's other calls run on the main thread).
   */
  async get(mayRead: boolean): Promise<string> {
    const known = this.#pem;
    if (known !== undefined && (!mayRead || now() < this.#checkAt)) return known;
    if (known !== undefined && !this.#refused && this.#reading !== undefined) return known;
    const reading = (this.#reading ??= this.bounded().finally(() => (this.#reading = undefined)));
    if (known === undefined) return reading;
    if (!this.#refused) {
      // A due check: in the background (its failure keeps the known one, as if it were not made).
      reading.catch(() => undefined);
      return known;
    }
    return reading.catch(() => known);
  }

  /**
   * Read it again at the next {@link get}. `refused`: the authority refused the credential naming
   * it — the next call waits for the read, which passes it over while another candidate fits.
   */
  recheck(refused = false): void {
    this.#checkAt = 0;
    if (!refused || this.#pem === undefined) return;
    this.#refused = true;
    this.#setAside.delete(this.#pem);
    this.#setAside.add(this.#pem);
    if (this.#setAside.size > SET_ASIDE_MAX) {
      this.#setAside.delete(this.#setAside.values().next().value!);
    }
  }

  private async bounded(): Promise<string> {
    const abort = new AbortController();
    const timer = after(this.readMs, () =>
      abort.abort(new Error(`the certificate was not read within ${this.readMs} ms`)),
    );
    try {
      const pem = await this.read(this.#setAside, abort.signal);
      this.#pem = pem;
      this.#refused = false;
      this.#checkAt = now() + CERTIFICATE_CHECK_MS;
      return pem;
    } finally {
      timer.clear();
    }
  }
}

/**
 * Of the certificates on a token for one key, the one to present: valid at `at` (wall ms), the
 * latest `notBefore` first (a renewal imported beside the certificate it replaces), one not in
 * `setAside` (refused by the authority) while another fits. None valid: the latest issued.
 */
export function chooseCertificate<C extends Pick<X509Certificate, 'validFrom' | 'validTo'>>(
  candidates: readonly C[],
  at: number,
  setAside: (candidate: C) => boolean,
): C | undefined {
  const from = (c: C) => Date.parse(c.validFrom);
  const valid = candidates.filter((c) => from(c) <= at && at <= Date.parse(c.validTo));
  const pool = valid.length > 0 ? valid : candidates;
  const preferred = pool.filter((c) => !setAside(c));
  return [...(preferred.length > 0 ? preferred : pool)].sort((a, b) => from(b) - from(a))[0];
}
