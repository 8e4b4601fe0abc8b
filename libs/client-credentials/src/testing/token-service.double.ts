import { inspect } from 'node:util';
import type { Observable } from 'rxjs';
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
import { claimsId, revokedBefore } from '../options/claims-request';
import { proofRequired } from '../credentials/token-binding';
import { DoubleEvents } from './double-events';
import { DoubleCredentials } from './double-requests';
import { ScriptedAnswers, type RecordedTokenCall, type ScriptedAnswer } from './scripted-answers';

/** Reads a double's events: for the testing module's lifecycle, not exported by the entry point. */
let eventsOf: (double: TokenServiceDouble) => DoubleEvents;

/**
 * The events of `double`, which the testing module opens (bridged to the app's event emitter)
 * and closes with its lifecycle.
 */
export function doubleEvents(double: TokenServiceDouble): DoubleEvents {
  return eventsOf(double);
}

/** Options of {@link TokenServiceDouble}. @publicApi */
export interface TokenServiceDoubleOptions {
  /** The token answered when nothing is scripted. @default 'test-access-token' */
  token?: string;
  /**
   * The credential of a call that names none, chosen as the real module chooses it.
   * @default the only one of `credentials`; none when it lists several (a call naming no
   * credential then fails `credential_unknown`, as the real service); `'default'` without
   * `credentials`
   */
  defaultCredential?: string;
  /** Credentials the double knows; a call naming another fails with `credential_unknown`. @default any */
  credentials?: string[];
  /**
   * How the double checks scopes and tenant ids, as the real service does for a credential of an
   * Entra ID authority (`entra`: exactly one `<resource>/.default` scope, a tenant GUID or
   * verified domain) or of another OIDC issuer (`oidc`: any non-empty set of scope tokens, a realm).
   * @default 'entra'
   */
  protocol?: 'entra' | 'oidc';
  /**
   * The credentials that are agent identity blueprints (`agentBlueprint` in the real options): a
   * call naming an `agent` of any other fails `agent_unsupported`, as the real service.
   * @default [] — none
   * @example new TokenServiceDouble({ credentials: ['agents'], agentBlueprints: ['agents'] })
   */
  agentBlueprints?: string[];
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
  readonly #events = new DoubleEvents();
  /**
   * As `TokenService.events`: what {@link emit} is given, and nothing else — frozen, hot, and
   * completed when the `ClientCredentialsTestingModule` holding the double closes.
   */
  readonly events: Observable<ClientCredentialsEvent> = this.#events.observable;
  private readonly options: { token: string; tenantId: string; expiresInSeconds: number };
  private readonly answers: ScriptedAnswers;
  private readonly known: DoubleCredentials;

  /** @throws ConfigurationError `options_invalid` for a `defaultCredential` or `agentBlueprints` it does not know */
  constructor(options: TokenServiceDoubleOptions = {}) {
    this.options = {
      token: options.token ?? 'test-access-token',
      tenantId: options.tenantId ?? 'test-tenant',
      expiresInSeconds: options.expiresInSeconds ?? 3600,
    };
    this.known = new DoubleCredentials({
      credentials: options.credentials && [...options.credentials],
      defaultCredential: options.defaultCredential,
      tenantId: this.options.tenantId,
      protocol: options.protocol ?? 'entra',
      agentBlueprints: [...(options.agentBlueprints ?? [])],
    });
    this.answers = new ScriptedAnswers(this.options, this.known);
    this.calls = this.answers.calls;
  }

  static {
    eventsOf = (double) => double.#events;
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
   * Hands `event` to the subscribers of {@link events}, and to the app's `@OnEvent` handlers
   * (`client-credentials.<type>`, with `EventEmitterModule.forRoot()` imported next to
   * `ClientCredentialsTestingModule`), frozen, as the real service would when it happens: to test
   * what an app does on a failed refresh, say.
   */
  emit(event: ClientCredentialsEvent): this {
    this.#events.emit(event);
    return this;
  }

  /** As `TokenService.getWarmUpStatus`: undefined — the double warms nothing up. */
  getWarmUpStatus(): WarmUpStatus | undefined {
    return undefined;
  }

  /** Forgets the calls, the answers still queued, the refusals held off and the counters of {@link getStats}. */
  reset(): void {
    this.answers.reset();
  }

  /**
   * As `TokenService.getAccessToken`: the next scripted answer, or the fixed token; `aborted` for a
   * signal aborted already, as the real service even when it holds the token.
   */
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

  /**
   * As `TokenService.requestHeaders`: the token's `Authorization` header. The double holds no DPoP
   * key: a `DPoP` token fails `proof_required`, as the real service's for a credential without one.
   */
  requestHeaders(token: AccessToken, request: ProofRequest): RequestHeaders {
    void request;
    if (token.tokenType === 'DPoP') {
      throw proofRequired(token.credential, 'dpop', 'requestHeaders()');
    }
    return { authorization: `${token.tokenType} ${token.token}` };
  }

  /** As `TokenService.boundCertificate`: undefined — the double's tokens are bound to no certificate. */
  boundCertificate(token: AccessToken): BoundCertificate | undefined {
    void token;
    return undefined;
  }

  /** As `TokenService.tokenBinding`: `bearer` — the double's tokens are not bound to a key. */
  tokenBinding(credential?: string): TokenBinding {
    this.known.get(credential);
    return 'bearer';
  }

  /**
   * As `TokenService.replaceRefusedToken` (after a 401 `invalid_token`): the next scripted answer,
   * or the fixed token. Undefined — no new token, the caller keeps the API's 401 — where the real
   * service answers none: when `refused` was itself answered after a refusal of the same scopes
   * and is refused within the hold-off (10 s, doubling per refusal in a row, to 10 min; move
   * `Date.now()` with fake timers, or {@link reset}), and when the answer is `refused` itself.
   * A signal aborted already fails `aborted`, the refusal recorded.
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
   * As `TokenService.forgetRefusedToken` (after a claims challenge): recorded; true, or false
   * within the same hold-off as {@link replaceRefusedToken}'s (a challenge naming a revocation
   * after `refused` was answered passes it, once).
   */
  forgetRefusedToken(
    scopes: string | readonly string[],
    refused: string,
    options?: Omit<GetTokenOptions, 'forceRefresh' | 'signal'> & { claims?: string },
  ): boolean {
    const call = { ...this.answers.callOf('forget', scopes, options), refused };
    this.calls.push({ ...call, outcome: { none: true } });
    return this.answers.refuse(call, refused, revokedBefore(options?.claims));
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
   * As `TokenService.getStats`, a snapshot: every answer a call got (token or scripted error)
   * counts as a token request; the last success, token expiry and error are kept as the real
   * service keeps them (under `tenants` or `agents` for a call naming another tenant or an
   * agent), so that `ClientCredentialsHealthIndicator` over the double follows the script. Calls
   * refused before any network call (a bad scope, say) and `forget` count nowhere.
   */
  getStats(credential?: string): CredentialStats {
    return this.answers.stats.snapshot(this.known.get(credential));
  }

  /** No shared cache in a double. */
  getCacheStats(): undefined {
    return undefined;
  }

  /** As `TokenService.tenantOf`: the `tenantId` option, for every credential it knows. */
  tenantOf(credential?: string): string {
    this.known.get(credential);
    return this.options.tenantId;
  }

  /**
   * As `TokenService.checkRequest`: refuses what the real service refuses before any network
   * call — an unknown credential, an agent of a credential that is no blueprint, scopes and tenant
   * ids it would not send — with its codes and messages.
   */
  checkRequest(
    scopes: string | readonly string[],
    options?: Pick<GetTokenOptions, 'credential' | 'tenantId' | 'agent' | 'agentUser'>,
  ): void {
    this.known.check(scopes, options);
  }

  /**
   * As `TokenService.isSingleTenant`: false — the double serves whatever tenant a call names (a
   * `TokenCredential` under test applies its own `additionallyAllowedTenants`).
   */
  isSingleTenant(credential?: string): boolean {
    this.known.get(credential);
    return false;
  }

  /** The credentials the double knows. */
  get credentialNames(): string[] {
    return this.known.names;
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
