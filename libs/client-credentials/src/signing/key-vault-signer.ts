import { createHash } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { KeyVaultSourceOptions, SignatureAlgorithm } from '../credential.options';
import { retryAfterMs } from '../authority/token-response';
import { CertificateText } from './certificate-text';
import { SignerError } from './signer-error';
import type { VaultTokenCredential } from './vault-credential';

/** `CryptographyClient` of `@azure/keyvault-keys`, as far as this signer calls it. */
interface CryptographyClientLike {
  sign(
    algorithm: string,
    digest: Uint8Array,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ result: Uint8Array; keyID?: string }>;
}

type CryptographyClientClass = new (
  keyId: string,
  credential: VaultTokenCredential,
  options: Record<string, unknown>,
) => CryptographyClientLike;

/** The final answer of the vault to one request, as core-rest-pipeline gives it to a policy. */
interface VaultResponse {
  status: number;
  bodyAsText?: string | null;
}

/**
 * A pipeline policy that reports an error answer without Key Vault's JSON error body (an empty
 * 500, a proxy's HTML page) as a failure carrying its status: the SDK's deserializer reads
 * `body.error` of whatever came back and, of an empty body, throws a TypeError that loses the
 * status. Placed per call, outside the SDK's challenge policy: it sees the vault's final answer.
 */
const vaultAnswerPolicy = {
  name: 'nestClientCredentialsVaultAnswer',
  async sendRequest(
    request: unknown,
    next: (request: unknown) => Promise<VaultResponse>,
  ): Promise<VaultResponse> {
    const response = await next(request);
    if (response.status >= 400 && !isVaultError(response.bodyAsText)) {
      const body = response.bodyAsText ?? '';
      throw Object.assign(
        new Error(body.trim() === '' ? 'an empty answer' : 'an answer that is not Key Vault JSON'),
        { statusCode: response.status },
      );
    }
    return response;
  },
};

/** Whether `text` is Key Vault's error JSON, `{ "error": { … } }` (or an issuer's `"error": "…"`). */
function isVaultError(text: string | null | undefined): boolean {
  try {
    const body: unknown = JSON.parse(text ?? '');
    const error = (body as { error?: unknown } | null)?.error;
    return typeof error === 'object' ? error !== null : typeof error === 'string';
  } catch {
    return false;
  }
}

/** What a failed call of the Key Vault client carries (core-rest-pipeline's RestError). */
export interface VaultFailure {
  statusCode?: number;
  code?: string;
  message?: string;
  /** The SDK's reading of Key Vault's `{ error: { code, message, innererror } }`. */
  details?: { error?: { code?: string; message?: string; innerError?: { code?: string } } };
  /** The vault's answer (its request, also kept by the SDK, holds the vault token). */
  response?: { headers?: { get(name: string): string | undefined } };
}

/** A header of the vault's answer, if the failure has one. */
function headerOf(f: VaultFailure, name: string): string | undefined {
  try {
    return f.response?.headers?.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long the vault asked to wait: `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds, as
 * Azure services send and core-rest-pipeline's throttling policy reads), else `Retry-After`.
 */
export function vaultRetryAfterMs(f: VaultFailure): number | undefined {
  const header = (name: string) => headerOf(f, name);
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const ms = header(name);
    if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms);
  }
  const after = header('retry-after');
  return after === undefined ? undefined : retryAfterMs({ 'retry-after': after });
}

/**
 * The SDK's error reduced to what tells why (status, code, Key Vault's error): the RestError's
 * non-enumerable `request` holds the vault token in its headers, which any reporter walking the
 * error (or `request`) would ship.
 */
function reduced(e: unknown, f: VaultFailure, said: string): Error {
  const error = f.details?.error;
  return Object.assign(new Error(said), {
    name: e instanceof Error ? e.name : 'Error',
    statusCode: f.statusCode,
    code: typeof f.code === 'string' ? f.code : undefined,
    vaultError:
      error === undefined
        ? undefined
        : { code: error.code, innerCode: error.innerError?.code, message: error.message },
  });
}

/**
 * Signs with an Azure Key Vault (or Managed HSM) key through `@azure/keyvault-keys` (an optional
 * peer): the digest goes to the vault's `sign` operation, the key never leaves it. The vault takes
 * tokens of another credential of the module (see {@link vaultTokenCredential}). A `keyId`
 * without a version signs with the key's current version: a rotated key is used at once, and its
 * new certificate (re-read from `certificatePath` when the file changes) must follow — a signature
 * that does not match the certificate is refused by the source before any token request.
 *
 * The SDK's own retries are off: the token path retries transient failures within its deadline,
 * and a signature is bounded by `timeouts.requestMs` (its request aborted past it).
 */
export class KeyVaultSigner {
  #client?: CryptographyClientLike;
  readonly #certificate: CertificateText;

  constructor(
    private readonly options: KeyVaultSourceOptions,
    private readonly credential: () => VaultTokenCredential,
  ) {
    this.#certificate =
      options.certificatePath !== undefined
        ? new CertificateText({ path: options.certificatePath }, 'certificatePath')
        : new CertificateText({ pem: options.certificate! }, 'certificate');
  }

  /** The SDK's client, made on first use (the package is loaded then). */
  private client(): CryptographyClientLike {
    if (this.#client !== undefined) return this.#client;
    const options = this.options;
    let CryptographyClient: CryptographyClientClass;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only when a key-vault source is configured
      ({ CryptographyClient } = require('@azure/keyvault-keys') as {
        CryptographyClient: CryptographyClientClass;
      });
    } catch (e) {
      throw new SignerError(
        "keyId: the package '@azure/keyvault-keys' is not installed — npm install @azure/keyvault-keys",
        false,
        { cause: e },
      );
    }
    const ca = options.ca === undefined ? [] : ([] as string[]).concat(options.ca);
    this.#client = new CryptographyClient(options.keyId, this.credential(), {
      retryOptions: { maxRetries: 0 },
      additionalPolicies: [{ policy: vaultAnswerPolicy, position: 'perCall' }],
      disableChallengeResourceVerification: options.disableChallengeResourceVerification ?? false,
      // `ca` replaces Node's trust store: keep the public roots beside the extra CAs.
      ...(ca.length > 0 ? { tlsOptions: { ca: [...rootCertificates, ...ca].join('\n') } } : {}),
    });
    return this.#client;
  }

  getCertificate(): Promise<string> {
    return this.#certificate.read();
  }

  async sign(
    data: Uint8Array,
    algorithm: SignatureAlgorithm,
    options: { signal: AbortSignal },
  ): Promise<Uint8Array> {
    const digest = createHash('sha256').update(data).digest();
    try {
      const { result } = await this.client().sign(algorithm, digest, {
        abortSignal: options.signal,
      });
      return result;
    } catch (e) {
      throw this.failure(e);
    }
  }

  describe(): Record<string, unknown> {
    return { keyId: this.options.keyId, credential: this.options.credential };
  }

  close(): void {
    // The SDK's client holds no socket of its own between requests.
  }

  /** The vault's refusal, as what to fix. */
  private failure(e: unknown): SignerError {
    if (e instanceof SignerError) return e;
    // A token of the vault's credential could not be had: its own typed error says why.
    if ((e as { code?: unknown })?.code !== undefined && 'hint' in (e as object)) {
      const inner = e as { message: string; transient?: boolean };
      return new SignerError(
        `credential: no token of credential '${this.options.credential}' for the vault: ${inner.message}`,
        inner.transient ?? false,
        { cause: e },
      );
    }
    const f = e as VaultFailure;
    const status = f.statusCode;
    const error = f.details?.error;
    const code = error?.innerError?.code ?? error?.code ?? f.code;
    const said = (error?.message ?? f.message ?? String(e)).split('\n')[0].slice(0, 300);
    const where = `key '${this.options.keyId}'`;
    const cause = reduced(e, f, said);
    if (status === 403) {
      return new SignerError(
        `keyId: the vault refused to sign with ${where} (403 ${code ?? 'Forbidden'}: ${said}) — ${
          /disabled/i.test(said) || code === 'KeyDisabled'
            ? 'enable the key (or its version), or pin an enabled version'
            : `grant credential '${this.options.credential}' the keys/sign permission (role Key Vault Crypto User, or an access policy with sign)`
        }`,
        false,
        { cause },
      );
    }
    if (status === 404) {
      return new SignerError(
        `keyId: the vault has no ${where} (404 ${code ?? 'KeyNotFound'}) — check the vault URL, the key name and version`,
        false,
        { cause },
      );
    }
    const challenge = status === 401 ? headerOf(f, 'www-authenticate') : undefined;
    if (challenge !== undefined && /error\s*=\s*"?insufficient_claims/i.test(challenge)) {
      // The SDK answered the vault's claims challenge with a token carrying its claims, and that
      // was refused too: not a tenant to change, Entra's continuous access evaluation refusing.
      return new SignerError(
        `credential: the vault refused the tokens of credential '${this.options.credential}' with a claims challenge, even one carrying its claims (401 insufficient_claims: ${said}) — continuous access evaluation: check the identity's sign-ins for a Conditional Access policy it fails (an IP address or location not allowed) or a disabled identity`,
        false,
        { cause },
      );
    }
    if (status === 401) {
      return new SignerError(
        `credential: the vault did not accept the token of credential '${this.options.credential}' (401: ${said}) — check that it is an identity of the vault's tenant`,
        false,
        { cause },
      );
    }
    if (status === 400) {
      return new SignerError(
        `keyId: the vault refused the request (400 ${code ?? ''}: ${said}) — check that ${where} can sign with this algorithm (an RSA key for PS256/RS256)`,
        false,
        { cause },
      );
    }
    // 429, 5xx, a dropped connection, an aborted request: the vault may answer later — not before
    // its Retry-After, which the token path honours (up to retry.maxRetryAfterMs).
    const wait = vaultRetryAfterMs(f);
    return new SignerError(
      `the vault could not sign with ${where} (${status === undefined ? (f.code ?? said) : `${status} ${code ?? ''}`.trim()}${wait === undefined ? '' : `, Retry-After ${Math.ceil(wait / 1000)} s`}) — transient: the vault is throttling, failing or unreachable`,
      true,
      { cause, retryAfterMs: wait },
    );
  }
}
