import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import {
  algorithmProblem,
  checkedSignature,
  defaultAlgorithm,
  parseCertificate,
  signatureProblem,
  signedByAnother,
  type SigningCertificate,
} from '../../signing/signing-certificate';
import { SignerError } from '../../signing/signer-error';
import { NotBefore } from '../../timing/not-before';
import { withDeadline } from '../../timing/timers';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type { CertificateSigner, SignatureAlgorithm } from '../../credential.options';
import { AssertionReuse, sentCredential, type SentCredential } from '../assertion-reuse';
import { assertionInput, compactAssertion } from '../client-assertion';
import { thrownText } from '../../errors/foreign-text';

/** Entra ID's refusal of an assertion's key or signature (the certificate not registered). */
const CERTIFICATE_REFUSED = 700027;

/** How long Entra ID gets the same assertion again: half of its 10-minute lifetime. */
const REUSE_MS = 5 * 60_000;

/**
 * The option naming what signs, per source type, and what to call it: problems of a source read
 * `field: …`, as start-up prefixes them with the source's path (`sources[0].signer: …`).
 */
const SIGNER_FIELD = {
  signer: { field: 'signer', subject: '' },
  pkcs11: { field: 'modulePath', subject: 'the PKCS#11 module ' },
  'key-vault': { field: 'keyId', subject: 'the vault ' },
} as const;

/** A signer the library made (PKCS#11, Key Vault): it describes itself and is closed with the app. */
export interface OwnedSigner extends CertificateSigner {
  /** What to show of it in diagnostics (never a PIN or token). */
  describe(): Record<string, unknown>;
  close(): Promise<void> | void;
  /**
   * The authority refused the credential: a certificate the signer keeps is read again; when the
   * refusal was of the certificate (`certificate`: AADSTS700027, or an issuer that does not say),
   * the one it kept is passed over while it has another.
   */
  certificateRejected?(certificate: boolean): void;
}

/** The settings of a {@link SignerSource}. */
export interface SignerSettings {
  algorithm?: SignatureAlgorithm;
  sendX5c?: boolean;
  /** Reuse an assertion per audience ({@link AssertionReuse}): with Entra ID, not with OIDC issuers. */
  reuse: boolean;
  /** The longest one call into the signer may take (`timeouts.requestMs`). */
  timeoutMs: number;
  /** The library made the signer (PKCS#11, Key Vault): an {@link OwnedSigner}. */
  owned?: boolean;
  /** Entra ID verifies RSA keys only: another key is refused at start-up, not per request. */
  rsaOnly?: boolean;
  /** The longest Retry-After of the signer's service honoured (`retry.maxRetryAfterMs`). */
  maxRetryAfterMs: number;
}

/**
 * A certificate credential whose key is held by a signer: the assertion is built here (the one
 * builder of every certificate source), only its signature comes from the signer — bounded by
 * `timeoutMs`, checked against the certificate before it is sent. Failures are `signer_failed`
 * (a chain moves on); one that did not answer in time is transient (a lone source is retried).
 */
export class SignerSource implements TokenSource {
  readonly #signer: CertificateSigner;
  /** A signer the library made: described in diagnostics, closed with the app. */
  readonly #owned?: OwnedSigner;
  readonly #reuse?: AssertionReuse;
  /** A wait its service asked for (a vault's Retry-After): for every tenant and scope it signs for. */
  readonly #notBefore: NotBefore;
  #certificate?: { pem: string; parsed: SigningCertificate };

  constructor(
    readonly type: 'signer' | 'pkcs11' | 'key-vault',
    readonly id: string,
    signer: CertificateSigner | OwnedSigner,
    private readonly settings: SignerSettings,
  ) {
    this.#signer = signer;
    if (settings.owned === true) this.#owned = signer as OwnedSigner;
    if (settings.reuse) this.#reuse = new AssertionReuse(REUSE_MS);
    this.#notBefore = new NotBefore(settings);
  }

  /** When the certificate expires, for health reports. */
  get notAfter(): Date | undefined {
    return this.#certificate?.parsed.notAfter;
  }

  /** A certificate that cannot be had now (signer down, file missing) makes the source unavailable. */
  async available(): Promise<string | undefined> {
    try {
      await this.loadCertificate();
      return undefined;
    } catch (e) {
      return (e as Error)?.message ?? String(e);
    }
  }

  async init(): Promise<string[]> {
    let cert: SigningCertificate;
    try {
      cert = await this.loadCertificate();
    } catch (e) {
      return [
        e instanceof SignerError ? e.message : `certificate: the signer failed: ${thrownText(e)}`,
      ];
    }
    if (this.settings.rsaOnly === true && cert.keyType !== 'rsa') {
      // The wording of the PEM certificate source: an explicit ES256 is refused by the schema.
      return [
        `certificate: the certificate's key is ${cert.keyType}; Entra ID certificate credentials need an RSA key — use the certificate of an RSA key (PS256, RS256), or protocol: 'oidc' for an issuer that takes ES256`,
      ];
    }
    const problem = algorithmProblem(cert, this.settings.algorithm ?? defaultAlgorithm(cert));
    const field = this.settings.algorithm === undefined ? 'certificate' : 'algorithm';
    return problem === undefined ? [] : [`${field}: ${problem}`];
  }

  msalCredential(): MsalClientCredential {
    return {
      clientAssertion: async ({ clientId, tokenEndpoint }) => {
        const audience = tokenEndpoint ?? '';
        // Read before any assertion is handed out, reused or not (a signer's own read, a file's
        // stat, a token's object every 5 minutes): a reused one never names a rotated certificate.
        const cert = await this.certificate();
        const sent = sentCredential();
        if (sent !== undefined) sent.thumbprintSha256 = cert.thumbprintSha256;
        const sign = () => this.signAssertion(clientId, audience, cert);
        return this.#reuse === undefined
          ? sign()
          : this.#reuse.get(`${clientId} ${audience} ${cert.thumbprintSha256}`, sign);
      },
    };
  }

  /**
   * The authority refused an assertion: none is reused again, and a certificate the signer keeps
   * (a PKCS#11 token's) is read again — it may have been renewed. True when a fresh request may
   * be accepted at once: the refused one carried a reused assertion, or a certificate other than
   * the one read now.
   */
  async rejected(sent?: SentCredential, error?: { aadsts?: number }): Promise<boolean> {
    this.#reuse?.clear();
    // Another AADSTS (the app disabled or not consented in that tenant) is not the certificate's.
    const aadsts = error?.aadsts;
    this.#owned?.certificateRejected?.(aadsts === undefined || aadsts === CERTIFICATE_REFUSED);
    if (sent?.reused === true) return true;
    if (sent?.thumbprintSha256 === undefined) return false;
    try {
      return (await this.loadCertificate()).thumbprintSha256 !== sent.thumbprintSha256;
    } catch {
      return false;
    }
  }

  /** Closes a signer the library made (sessions, connections); the app's own is left to it. */
  async release(): Promise<void> {
    await this.#owned?.close();
  }

  toJSON(): Record<string, unknown> {
    const own = this.#owned?.describe() ?? {};
    return {
      type: this.type,
      id: this.id,
      ...own,
      algorithm:
        this.settings.algorithm ??
        (this.#certificate && defaultAlgorithm(this.#certificate.parsed)),
      thumbprintSha256: this.#certificate?.parsed.thumbprintSha256,
      sendX5c: this.settings.sendX5c ?? false,
    };
  }

  private async signAssertion(
    clientId: string,
    tokenEndpoint: string,
    cert: SigningCertificate,
  ): Promise<string> {
    const algorithm = this.settings.algorithm ?? defaultAlgorithm(cert);
    const problem = algorithmProblem(cert, algorithm);
    if (problem !== undefined || algorithm === undefined) {
      throw new ClientCredentialsError('signer_failed', `Source '${this.id}': ${problem}.`);
    }
    const input = assertionInput(clientId, tokenEndpoint, cert, algorithm, !!this.settings.sendX5c);
    const data = Buffer.from(input);
    const wait = this.#notBefore.held();
    if (wait !== undefined) {
      throw new ClientCredentialsError(
        'signer_failed',
        `Source '${this.id}': ${wait.reason}; not asked again for ${Math.ceil(wait.ms / 1000)} s (its Retry-After, at most retry.maxRetryAfterMs).`,
        { retryAfterMs: wait.ms },
        true,
      );
    }
    let signature: unknown;
    try {
      signature = await this.bounded('sign', (signal) =>
        this.#signer.sign(data, algorithm, { signal }),
      );
    } catch (e) {
      if (e instanceof SignerError && e.transient) this.#notBefore.hold(e.retryAfterMs, e.message);
      throw this.failure('sign', e);
    }
    if (!(signature instanceof Uint8Array)) {
      throw new ClientCredentialsError(
        'signer_failed',
        `The signer of source '${this.id}' returned ${typeof signature}, not the signature's bytes.`,
      );
    }
    const malformed = signatureProblem(cert, algorithm, signature);
    if (malformed !== undefined) {
      throw new ClientCredentialsError(
        'signer_failed',
        `The signer of source '${this.id}' ${malformed}.`,
      );
    }
    const checked = checkedSignature(cert, algorithm, data, signature);
    if (checked === undefined && signedByAnother(cert, algorithm, data, signature)) {
      throw new ClientCredentialsError(
        'signer_failed',
        `The signer of source '${this.id}' signed with the key of another certificate of the bundle than the first (x5t#S256 ${cert.thumbprintSha256}): the chain is out of order (leaf first) — put the key's certificate first, then its issuers.`,
      );
    }
    if (checked === undefined) {
      throw new ClientCredentialsError(
        'signer_failed',
        `The signer of source '${this.id}' signed with a key that is not the certificate's (x5t#S256 ${cert.thumbprintSha256}): the signature does not verify with the certificate's public key — deploy the certificate of the key that signs (a rotated key needs its new certificate), or pin the key version.`,
      );
    }
    return compactAssertion(input, checked);
  }

  /** The certificate of the signer, as a typed error when it cannot be had. */
  private async certificate(): Promise<SigningCertificate> {
    try {
      return await this.loadCertificate();
    } catch (e) {
      throw this.failure('getCertificate', e);
    }
  }

  /** The certificate of the signer, parsed again when its text changed. */
  private async loadCertificate(): Promise<SigningCertificate> {
    const pem = await this.bounded('getCertificate', () => this.#signer.getCertificate());
    if (typeof pem !== 'string') {
      throw new SignerError(`certificate: the signer gave ${typeof pem}, not PEM text`);
    }
    if (this.#certificate?.pem !== pem) {
      try {
        this.#certificate = { pem, parsed: parseCertificate(pem, 'certificate') };
      } catch (e) {
        throw new SignerError((e as Error).message);
      }
    }
    return this.#certificate.parsed;
  }

  /** What a failed call into the signer is reported as: `signer_failed`, naming the source. */
  private failure(what: string, e: unknown): ClientCredentialsError {
    if (e instanceof ClientCredentialsError) return e;
    const reason =
      e instanceof SignerError ? e.message : `the signer failed (${what}): ${thrownText(e)}`;
    return new ClientCredentialsError(
      'signer_failed',
      `Source '${this.id}': ${reason}.`,
      { cause: e, retryAfterMs: e instanceof SignerError ? e.retryAfterMs : undefined },
      e instanceof SignerError && e.transient,
    );
  }

  /**
   * One call into the signer, bounded by `timeoutMs`: past it the call's signal aborts and the
   * source fails `signer_failed` (transient), whatever the signer does after.
   */
  private async bounded<T>(
    what: string,
    call: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    const abort = new AbortController();
    const ms = this.settings.timeoutMs;
    const { field, subject } = SIGNER_FIELD[this.type];
    let timedOut: SignerError | undefined;
    try {
      return await withDeadline(
        (async () => call(abort.signal))(),
        ms,
        () =>
          (timedOut = new SignerError(
            `${field}: ${subject}did not answer ${what} within ${ms} ms (timeouts.requestMs) — check that it answers (a device that hangs, a service out of reach), or raise timeouts.requestMs`,
            true,
          )),
      );
    } catch (e) {
      if (e === timedOut) abort.abort(e);
      throw e;
    }
  }
}
