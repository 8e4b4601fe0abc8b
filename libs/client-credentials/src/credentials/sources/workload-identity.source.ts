import { stat } from 'node:fs/promises';
import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import { SourceUnavailableError } from '../../errors/source-unavailable';
import type { MsalClientCredential, TokenSource } from '../../authority/source-client';
import type { WorkloadIdentitySourceOptions } from '../../credential.options';
import { FileReadError, MAX_TOKEN_FILE_BYTES, readBoundedFile } from './bounded-file';

/** Re-read the token file when the token it held has less than this left. */
const REREAD_BEFORE_EXPIRY_MS = 5 * 60_000;

/**
 * Workload identity federation: a token from the platform (a Kubernetes projected service
 * account token, a GitHub OIDC token…) read from a file and sent as the client assertion. The
 * file is re-read whenever it changes and before the token it held expires — the kubelet rotates
 * it, and a token read once at start-up fails after an hour with AADSTS700024.
 */
export class WorkloadIdentitySource implements TokenSource {
  readonly type = 'workload-identity';
  readonly #path: string | undefined;
  #token?: { value: string; version: string; expiresAt: number };
  /** The read under way: later requests join it, so a file that hangs holds one thread only. */
  #reading?: Promise<string>;

  constructor(
    options: WorkloadIdentitySourceOptions,
    readonly id: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#path = options.tokenFilePath ?? (env.AZURE_FEDERATED_TOKEN_FILE || undefined);
  }

  async init(): Promise<string[]> {
    if (this.#path === undefined) {
      return [
        'tokenFilePath: not set, and AZURE_FEDERATED_TOKEN_FILE is empty — set the path of the federated token file',
      ];
    }
    return [];
  }

  /** Whether the token file exists now; a missing file makes the source unavailable, not invalid. */
  async available(): Promise<string | undefined> {
    if (this.#path === undefined) return 'no token file configured';
    try {
      const s = await stat(this.#path);
      return s.isFile() ? undefined : `'${this.#path}' is not a regular file`;
    } catch (e) {
      return `cannot read '${this.#path}' (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }

  msalCredential(): MsalClientCredential {
    return { clientAssertion: () => this.read() };
  }

  toJSON(): Record<string, unknown> {
    return { type: this.type, id: this.id, tokenFilePath: this.#path };
  }

  private read(): Promise<string> {
    this.#reading ??= this.readNow().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  private async readNow(): Promise<string> {
    const path = this.#path!;
    let version: string;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new FileReadError('ENOTREG', MAX_TOKEN_FILE_BYTES);
      version = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch (e) {
      throw this.unreadable(e);
    }
    const cached = this.#token;
    if (
      cached &&
      cached.version === version &&
      cached.expiresAt - Date.now() > REREAD_BEFORE_EXPIRY_MS
    ) {
      return cached.value;
    }
    const value = (
      await readBoundedFile(path, MAX_TOKEN_FILE_BYTES).catch((e) => {
        throw this.unreadable(e);
      })
    ).trim();
    let expiresAt: number;
    try {
      const exp = jwtExpiry(value);
      expiresAt = typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY;
    } catch {
      throw new ClientCredentialsError(
        'assertion_failed',
        `The federated token file '${path}' of source '${this.id}' does not hold a JWT.`,
      );
    }
    if (expiresAt <= Date.now()) {
      throw new ClientCredentialsError(
        'assertion_failed',
        `The federated token in '${path}' (source '${this.id}') expired at ${new Date(expiresAt).toISOString()}; the platform should have replaced it.`,
      );
    }
    this.#token = { value, version, expiresAt };
    return value;
  }

  /** A file that cannot be read (missing, not a regular file, too large): the chain moves on. */
  private unreadable(e: unknown): SourceUnavailableError {
    const reason =
      e instanceof FileReadError ? e.message : ((e as NodeJS.ErrnoException).code ?? 'error');
    return new SourceUnavailableError(this.id, `cannot read '${this.#path}' (${reason})`);
  }
}

/**
 * The `exp` claim of a compact JWT, read without verifying it (the authority verifies it; the
 * source only needs to know when to read the file again). Not through jose: jose is ESM-only, and
 * a library compiled to CommonJS that require()s it breaks users' jest (its module system cannot
 * require ESM before Node 24.9) unless they transform jose — for three lines of base64url.
 * Throws when `token` is no JWT.
 */
function jwtExpiry(token: string): unknown {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new Error('payload is not a JSON object');
  return (payload as { exp?: unknown }).exp;
}
