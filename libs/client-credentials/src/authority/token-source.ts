import type { ClientAssertionCallback } from '@azure/msal-node';
import type { CredentialSource } from '../client-credentials.options';

/** How msal-node authenticates the app for one source. */
export type MsalClientCredential =
  { clientSecret: string } | { clientAssertion: ClientAssertionCallback };

/**
 * One credential source at run time: the secret, certificate or assertion of an app.
 * Secret material lives in private fields only, so no source can be logged or serialised with it.
 */
export interface TokenSource {
  readonly type: CredentialSource['type'];
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
  /** A description without secret material. */
  toJSON(): Record<string, unknown>;
}
