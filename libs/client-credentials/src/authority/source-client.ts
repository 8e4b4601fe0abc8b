import type { ClientAssertionCallback } from '@azure/msal-node';
import type { CredentialSource } from '../credential.options';
import type { ClientCertificate } from './client-certificate';

/** How msal-node authenticates the app for one source. */
export type MsalClientCredential =
  { clientSecret: string } | { clientAssertion: ClientAssertionCallback };

/**
 * One credential source at run time: the secret, certificate or assertion of an app.
 * Secret material lives in private fields only, so no source can be logged or serialised with it.
 */
export interface TokenSource {
  /** The source's kind: a configured type, or `agent` (an agent identity's blueprint token). */
  readonly type: CredentialSource['type'] | 'agent';
  /** Names the source in cache keys, logs and diagnostics; never derived from a secret. */
  readonly id: string;
  /**
   * Loads and checks what the source needs (files, keys). Returns the problems found, each as
   * `field: what is wrong — how to fix it`, relative to the source.
   */
  init(): Promise<string[]>;
  /**
   * Why the source cannot be used right now (its file is missing…), or undefined. A source that
   * is unavailable at start-up is skipped, not a configuration error, when another can be used.
   */
  available?(): Promise<string | undefined>;
  /** What msal-node needs to authenticate with this source. */
  msalCredential(): MsalClientCredential;
  /**
   * The certificate to present in the TLS handshake (mTLS), as of now: a certificate source's,
   * re-read when its file changed. Sources that have none leave it out.
   */
  clientCertificate?(): Promise<ClientCertificate>;
  /** A description without secret material. */
  toJSON(): Record<string, unknown>;
}

/** A token as the authority issued it. */
export interface IssuedToken {
  readonly token: string;
  readonly tokenType: string;
  readonly expiresOn: number;
  /** When the authority suggests refreshing (`refresh_in`), if it said. */
  readonly refreshOn?: number;
  readonly correlationId?: string;
  /** The `x5t#S256` of the client certificate the token is bound to (mTLS). */
  readonly certificateThumbprint?: string;
}

/** One token request of a source. */
export interface SourceRequest {
  readonly tenantId: string;
  readonly scopes: readonly string[];
  readonly correlationId: string;
  /**
   * A JSON claims request (e.g. a CAE challenge's), sent with the request: the token issued must
   * satisfy it.
   */
  readonly claims?: string;
  /**
   * The token this request replaces — one an API refused, or the one a background refresh renews:
   * a source whose endpoint caches tokens (a managed identity's) tells it not to answer with that
   * one, where it can; the others ignore it.
   */
  readonly refused?: string;
  /**
   * Entra Agent ID: the agent identity (its app id) a blueprint's token exchange token is for,
   * sent as `fmi_path` (msal-node's `fmiPath`).
   */
  readonly fmiPath?: string;
  /**
   * A client assertion for this request only, in place of the source's own: an agent identity's
   * is its blueprint's token exchange token.
   */
  readonly clientAssertion?: string;
}

/** Gets tokens for one credential source. */
export interface SourceClient {
  readonly source: TokenSource;
  /** Error codes, besides the credential ones, after which a chain moves on to its next source. */
  readonly moveOnAfter?: ReadonlySet<string>;
  /** A token from the authority. */
  acquire(request: SourceRequest): Promise<IssuedToken>;
}

/**
 * The client capabilities every request declares: `cp1` says this client handles claims
 * challenges (continuous access evaluation), so resources may send it one instead of a plain 401.
 */
export const CLIENT_CAPABILITIES: readonly string[] = ['cp1'];
