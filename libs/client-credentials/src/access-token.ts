import { inspect } from 'node:util';

/**
 * An access token and what is known about it. Logging it, `JSON.stringify` and `util.inspect`
 * show everything but the token itself.
 * @publicApi
 */
export class AccessToken {
  constructor(
    /** The token to send as `Authorization: Bearer <token>`. */
    readonly token: string,
    /** Token type, `Bearer`. */
    readonly tokenType: string,
    /** When the token expires (as the authority said; the library stops serving it a little earlier). */
    readonly expiresOn: Date,
    /** When the library refreshes it in the background. */
    readonly refreshOn: Date | undefined,
    /** The scopes it was requested for. */
    readonly scopes: readonly string[],
    /** Name of the credential that obtained it. */
    readonly credential: string,
    /** Whether this call was served from the cache or had to ask the authority. */
    readonly source: 'cache' | 'network',
  ) {
    Object.freeze(this);
  }

  /** The same token, marked as served from the cache. */
  fromCache(): AccessToken {
    return new AccessToken(
      this.token,
      this.tokenType,
      this.expiresOn,
      this.refreshOn,
      this.scopes,
      this.credential,
      'cache',
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
    };
  }

  [inspect.custom](): string {
    return `AccessToken ${inspect(this.toJSON())}`;
  }
}
