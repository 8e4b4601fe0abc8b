import { inspect } from 'node:util';

/**
 * An access token and what is known about it. Logging it, `JSON.stringify` and `util.inspect`
 * show everything but the token itself.
 *
 * The times are held as epoch milliseconds (a cache of 100,000 tokens holds as many of these):
 * `expiresOn` and `refreshOn` build their `Date` when read.
 * @publicApi
 */
export class AccessToken {
  readonly #expiresOn: number;
  readonly #refreshOn: number | undefined;

  constructor(
    /** The token to send as `Authorization: Bearer <token>`. */
    readonly token: string,
    /** Token type: `Bearer`; `DPoP` or `mtls_pop` for a bound token. */
    readonly tokenType: string,
    expiresOn: Date | number,
    refreshOn: Date | number | undefined,
    /** The scopes it was requested for. */
    readonly scopes: readonly string[],
    /** Name of the credential that obtained it. */
    readonly credential: string,
    /** Whether this call was served from the cache or had to ask the authority. */
    readonly source: 'cache' | 'network',
    /**
     * The certificate the token is bound to (mTLS: RFC 8705, Entra mTLS PoP), by its `x5t#S256`
     * thumbprint — the token's `cnf`: the API takes the token only over a connection presenting
     * that certificate (`TokenService.boundCertificate(token)`). Undefined for other tokens.
     */
    readonly certificateThumbprint?: string,
  ) {
    this.#expiresOn = +expiresOn;
    this.#refreshOn = refreshOn === undefined ? undefined : +refreshOn;
    Object.freeze(this);
  }

  /** When the token expires (as the authority said; the library stops serving it a little earlier). */
  get expiresOn(): Date {
    return new Date(this.#expiresOn);
  }

  /** {@link expiresOn} in epoch milliseconds (the Azure SDK's `expiresOnTimestamp`). */
  get expiresOnTimestamp(): number {
    return this.#expiresOn;
  }

  /** When the library refreshes it in the background. */
  get refreshOn(): Date | undefined {
    return this.#refreshOn === undefined ? undefined : new Date(this.#refreshOn);
  }

  /** {@link refreshOn} in epoch milliseconds. */
  get refreshOnTimestamp(): number | undefined {
    return this.#refreshOn;
  }

  /** The same token, marked as served from the cache. */
  fromCache(): AccessToken {
    return new AccessToken(
      this.token,
      this.tokenType,
      this.#expiresOn,
      this.#refreshOn,
      this.scopes,
      this.credential,
      'cache',
      this.certificateThumbprint,
    );
  }

  toJSON(): Record<string, unknown> {
    return {
      token: '[redacted]',
      tokenType: this.tokenType,
      expiresOn: this.expiresOn.toISOString(),
      refreshOn: this.refreshOn?.toISOString(),
      scopes: this.scopes,
      credential: this.credential,
      source: this.source,
      ...(this.certificateThumbprint === undefined
        ? {}
        : { certificateThumbprint: this.certificateThumbprint }),
    };
  }

  [inspect.custom](): string {
    return `AccessToken ${inspect(this.toJSON())}`;
  }
}
