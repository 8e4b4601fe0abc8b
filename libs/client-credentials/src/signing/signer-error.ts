/**
 * Why a signer of the library's (PKCS#11, Key Vault) could not sign or give its certificate. The
 * message names the option and the fix, relative to the source (`pinFile: the token refused the
 * PIN (CKR_PIN_INCORRECT) — …`), and never holds a PIN or a token; the source reports it as
 * `signer_failed`. `transient`: trying again later may work (a device busy or removed, a vault
 * throttling or unreachable), not a configuration to change. `retryAfterMs`: how long the service
 * asked to wait (a vault's Retry-After), carried into the `signer_failed` error, whose retries and
 * cool-downs honour it as the authority's.
 */
export class SignerError extends Error {
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    readonly transient = false,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.name = 'SignerError';
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}
