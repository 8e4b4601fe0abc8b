import { inspect } from 'node:util';
import { Subject, type Observable } from 'rxjs';
import type { ClientCredentialsEvent, WarmUpStatus } from '../client-credentials.events';
import type { AccessToken } from '../access-token';
import type {
  BoundCertificate,
  GetTokenOptions,
  ProofRequest,
  RequestHeaders,
  TokenBinding,
} from '../client-credentials.options';
import type { CredentialStats } from '../observability/credential-stats';
import { claimsId } from '../options/claims-request';
import { ScriptedAnswers, type RecordedTokenCall, type ScriptedAnswer } from './scripted-answers';

/** Options of {@link TokenServiceDouble}. @publicApi */
export interface TokenServiceDoubleOptions {
  /** The token answered when nothing is scripted. @default 'test-access-token' */
  token?: string;
  /** The credential reported when a call names none. @default 'default' */
  defaultCredential?: string;
  /** Credentials the double knows; a call naming another fails with `credential_unknown`. @default any */
  credentials?: string[];
  /** The tenant of every credential (`tenantOf`), e.g. for a `TokenCredential` under test. @default 'test-tenant' */
  tenantId?: string;
  /** Lifetime of the tokens it answers. @default 3600 */
  expiresInSeconds?: number;
}

/**
 * A stand-in for `TokenService` in unit tests: no authority, no network, no timers, no cache. It
 * answers a fixed token, or scripted tokens and failures in order (use the library's own error
 * classes, so that the code under test meets the errors it will meet in production), and records
 * every call with its kind. It has every public method of `TokenService`, so the library's calling
 * integrations work with it: after a 401 `invalid_token` their `replaceRefusedToken` gets the next
 * scripted answer, after a claims challenge their `forgetRefusedToken` is recorded and
 * `getAccessTokenWithClaims` gets the next scripted answer.
 *
 * @example
 * const tokens = new TokenServiceDouble().willAnswer('t1', new TokenEndpointError('endpoint_unavailable', 'down', {}, true));
 * await job.run(); // gets 't1'
 * await expect(job.run()).rejects.toMatchObject({ code: 'endpoint_unavailable' });
 * expect(tokens.calls).toHaveLength(2);
 * @example
 * // The API refuses 'revoked' (401 invalid_token): the integration re-sends with 'fresh'.
 * const tokens = new TokenServiceDouble().willAnswer('revoked', 'fresh');
 * await orders.get('items');
 * expect(tokens.calls.map((c) => c.kind)).toEqual(['token', 'replace']);
 * @publicApi
 */
export class TokenServiceDouble {
  /** Every call answered, oldest first. */
  readonly calls: RecordedTokenCall[];
  readonly #events = new Subject<ClientCredentialsEvent>();
  /** As `TokenService.events`: what {@link emit} is given, and nothing else. */
  readonly events: Observable<ClientCredentialsEvent> = this.#events.asObservable();
  private readonly options: Required<Omit<TokenServiceDoubleOptions, 'credentials'>> & {
    credentials?: string[];
  };
  private readonly answers: ScriptedAnswers;

  constructor(options: TokenServiceDoubleOptions = {}) {
    this.options = {
      token: options.token ?? 'test-access-token',
      defaultCredential: options.defaultCredential ?? 'default',
      tenantId: options.tenantId ?? 'test-tenant',
      expiresInSeconds: options.expiresInSeconds ?? 3600,
      credentials: options.credentials,
    };
    this.answers = new ScriptedAnswers(this.options);
    this.calls = this.answers.calls;
  }

  /**
   * Queues answers for the next calls that get a token (`getAccessToken`, `replaceRefusedToken`,
   * `getAccessTokenWithClaims`), in order; once used up, calls get the fixed token again.
   */
  willAnswer(...answers: ScriptedAnswer[]): this {
    this.answers.queue(answers);
    return this;
  }

  /** Changes the fixed token answered when nothing is scripted. */
  willAlwaysAnswer(token: string): this {
    this.options.token = token;
    return this;
  }

  /**
   * Hands `event` to the subscribers of {@link events}, as the real service would when it happens:
   * to test what an app does on a failed refresh, say.
   */
  emit(event: ClientCredentialsEvent): this {
    this.#events.next(event);
    return this;
  }

  /** As `TokenService.getWarmUpStatus`: undefined — the double warms nothing up. */
  getWarmUpStatus(): WarmUpStatus | undefined {
    return undefined;
  }

  /** Forgets the calls and the answers still queued. */
  reset(): void {
    this.answers.reset();
  }

  /** As `TokenService.getAccessToken`: the next scripted answer, or the fixed token. */
  async getAccessToken(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    return this.answers.answer(this.answers.callOf('token', scopes, options), options?.signal);
  }

  /** As `TokenService.getAuthorizationHeader`: `"Bearer <token>"`. */
  async getAuthorizationHeader(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<string> {
    const token = await this.getAccessToken(scopes, options);
    return `${token.tokenType} ${token.token}`;
  }

  /** As `TokenService.getRequestHeaders`: `{ authorization: 'Bearer <token>' }` (bearer tokens only). */
  async getRequestHeaders(
    scopes: string | readonly string[],
    request: ProofRequest,
    options?: GetTokenOptions,
  ): Promise<RequestHeaders> {
    return this.requestHeaders(await this.getAccessToken(scopes, options), request);
  }

  /** As `TokenService.requestHeaders`: the token's `Authorization` header; the double signs no proofs. */
  requestHeaders(token: AccessToken, request: ProofRequest): RequestHeaders {
    void request;
    return { authorization: `${token.tokenType} ${token.token}` };
  }

  /** As `TokenService.boundCertificate`: undefined — the double's tokens are bound to no certificate. */
  boundCertificate(token: AccessToken): BoundCertificate | undefined {
    void token;
    return undefined;
  }

  /** As `TokenService.tokenBinding`: `bearer` — the double's tokens are not bound to a key. */
  tokenBinding(credential = this.options.defaultCredential): TokenBinding {
    const unknown = this.answers.unknownCredential(credential);
    if (unknown !== undefined) throw unknown;
    return 'bearer';
  }

  /**
   * As `TokenService.replaceRefusedToken` (after a 401 `invalid_token`): the next scripted answer,
   * or the fixed token. Never `refused` itself, as the real service: an answer equal to it gives
   * undefined — no new token, the caller keeps the API's 401.
   */
  async replaceRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken | undefined> {
    const call = { ...this.answers.callOf('replace', scopes, options), refused };
    return this.answers.answer(call, options?.signal, refused);
  }

  /**
   * As `TokenService.forgetRefusedToken` (after a claims challenge): recorded, and true (the double
   * has no hold-off).
   */
  forgetRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options?: Omit<GetTokenOptions, 'forceRefresh' | 'signal'> & { claims?: string },
  ): boolean {
    const call = { ...this.answers.callOf('forget', scopes, options), refused };
    const unknown = this.answers.unknownCredential(call.credential);
    if (unknown !== undefined) this.answers.fail(call, unknown);
    this.calls.push({ ...call, outcome: { none: true } });
    return true;
  }

  /**
   * As `TokenService.getAccessTokenWithClaims` (after a claims challenge): the next scripted
   * answer, or the fixed token; claims that are not a JSON object fail with `claims_invalid`.
   */
  async getAccessTokenWithClaims(
    scopes: string | readonly string[],
    claims: string,
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const call = { ...this.answers.callOf('claims', scopes, options), claims };
    try {
      claimsId(claims);
    } catch (e) {
      this.answers.fail(call, e as Error);
    }
    return this.answers.answer(call, options?.signal);
  }

  /**
   * Counters derived from the recorded calls: every call that got a token, or failed to, counts
   * as a token request (`forget` does not).
   */
  getStats(credential = this.options.defaultCredential): CredentialStats {
    const unknown = this.answers.unknownCredential(credential);
    if (unknown !== undefined) throw unknown;
    return this.answers.stats(credential);
  }

  /** No shared cache in a double. */
  getCacheStats(): undefined {
    return undefined;
  }

  /** As `TokenService.tenantOf`: the `tenantId` option, for every credential it knows. */
  tenantOf(credential = this.options.defaultCredential): string {
    const unknown = this.answers.unknownCredential(credential);
    if (unknown !== undefined) throw unknown;
    return this.options.tenantId;
  }

  /** As `TokenService.checkRequest`: refuses an unknown credential, as the real service does. */
  checkRequest(
    scopes: string | readonly string[],
    options?: Pick<GetTokenOptions, 'credential' | 'tenantId'>,
  ): void {
    void scopes; // any scopes: the double answers what it is scripted to
    const unknown = this.answers.unknownCredential(
      options?.credential ?? this.options.defaultCredential,
    );
    if (unknown !== undefined) throw unknown;
  }

  /**
   * As `TokenService.isSingleTenant`: false — the double serves whatever tenant a call names (a
   * `TokenCredential` under test applies its own `additionallyAllowedTenants`).
   */
  isSingleTenant(credential = this.options.defaultCredential): boolean {
    const unknown = this.answers.unknownCredential(credential);
    if (unknown !== undefined) throw unknown;
    return false;
  }

  /** The credentials the double knows. */
  get credentialNames(): string[] {
    return this.options.credentials ?? [this.options.defaultCredential];
  }

  /** What the double is, without the calls. */
  toJSON(): Record<string, unknown> {
    return { double: true, credentials: this.credentialNames, tenantId: this.options.tenantId };
  }

  /** What `console.log` and `util.inspect` show: the double, as {@link toJSON}. */
  [inspect.custom](): string {
    return `TokenServiceDouble ${inspect(this.toJSON())}`;
  }
}
