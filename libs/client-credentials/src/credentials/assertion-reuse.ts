import { now } from '../timing/clock';

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
    if (found !== undefined && time < found.until) return found.assertion;
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
