import { AsyncLocalStorage } from 'node:async_hooks';
import { now } from '../timing/clock';

/**
 * What one token request sent of a source's credential: noted by the source while msal builds the
 * request (msal calls the assertion callback inside the request's async context), read by the
 * chain when the authority refused it.
 */
export interface SentCredential {
  /** The assertion was handed out again ({@link AssertionReuse}), not signed for this request. */
  reused: boolean;
  /** The `x5t#S256` of the certificate the assertion named. */
  thumbprintSha256?: string;
}

const sending = new AsyncLocalStorage<SentCredential>();

/** Runs one token request, noting what it sent of the credential in `sent`. */
export function noteSent<T>(sent: SentCredential, request: () => Promise<T>): Promise<T> {
  return sending.run(sent, request);
}

/** The note of the token request being built, if the chain keeps one. */
export function sentCredential(): SentCredential | undefined {
  return sending.getStore();
}

interface Reused {
  readonly assertion: Promise<string>;
  /** Until when (monotonic ms) it is handed out again; Infinity while it is being signed. */
  until: number;
}

/**
 * Signed assertions reused per audience (a tenant's token endpoint) for `reuseMs`, where the
 * authority allows it: Entra ID accepts an assertion until its `exp` (msal reuses one for its 10
 * minutes), so a signature that costs a round trip to an HSM or a key vault is paid once per
 * tenant per window rather than per token request. Concurrent requests of one audience share one
 * signature. A failed signature is not kept; `clear()` drops all (the authority refused one).
 * A request handed an assertion again is noted as such ({@link SentCredential}): when the authority
 * refuses it, the chain asks once more at once with a fresh signature (a certificate rotated under
 * a reused assertion), before the caller sees the rejection or the source is skipped. Callers key
 * entries by the certificate's thumbprint too, so a rotated certificate is never named by one.
 */
export class AssertionReuse {
  readonly #entries = new Map<string, Reused>();

  constructor(
    private readonly reuseMs: number,
    /** Audiences kept at most (a multi-tenant sweep): the oldest is dropped first. */
    private readonly maxEntries = 1000,
  ) {}

  /** The assertion of `audience`: a reusable one, the one being signed, or a new one of `sign()`. */
  get(audience: string, sign: () => Promise<string>): Promise<string> {
    const time = now();
    const found = this.#entries.get(audience);
    if (found !== undefined && time < found.until) {
      // Signed for an earlier request (not one being signed now): the refusal may be of its time.
      const sent = sending.getStore();
      if (sent !== undefined && found.until !== Infinity) sent.reused = true;
      return found.assertion;
    }
    if (found !== undefined) this.#entries.delete(audience);
    const entry: Reused = { assertion: sign(), until: Infinity };
    this.#entries.set(audience, entry);
    entry.assertion.then(
      () => {
        entry.until = now() + this.reuseMs;
      },
      () => {
        if (this.#entries.get(audience) === entry) this.#entries.delete(audience);
      },
    );
    if (this.#entries.size > this.maxEntries) {
      for (const [key, e] of this.#entries) {
        if (e === entry) continue;
        this.#entries.delete(key);
        break;
      }
    }
    return entry.assertion;
  }

  /** Forgets every assertion: none is handed out again. */
  clear(): void {
    this.#entries.clear();
  }
}
