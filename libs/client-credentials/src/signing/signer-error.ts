/**
 * Why a signer of the library's (PKCS#11, Key Vault) could not sign or give its certificate. The
 * message names the option and the fix, relative to the source (`pinFile: the token refused the
 * PIN (CKR_PIN_INCORRECT) — …`), and never holds a PIN or a token; the source reports it as
 * `signer_failed`. `transient`: trying again later may work (a device busy or removed, a vault
 * throttling or unreachable), not a configuration to change.
 */
export class SignerError extends Error {
  constructor(
    message: string,
    readonly transient = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SignerError';
  }
}
