import { AccessToken } from '../access-token';
import type { GetTokenOptions } from '../client-credentials.options';
import { InvalidRequestError } from '../errors/client-credentials.errors';
import type { CredentialStats } from '../observability/credential-stats';

/** One call the double answered, as the code under test made it. @publicApi */
export interface RecordedTokenCall {
  /** The scopes asked for. */
  readonly scopes: readonly string[];
  /** The credential named (or the double's default). */
  readonly credential: string;
  readonly tenantId?: string;
  readonly forceRefresh: boolean;
  /** What the call got: the token's value, or the error's code. */
  readonly outcome: { token: string } | { error: string };
}

/** What a scripted call answers: a token value, or an error to throw (e.g. a real library error). */
export type ScriptedAnswer = string | Error;

/** Options of {@link TokenServiceDouble}. @publicApi */
export interface TokenServiceDoubleOptions {
  /** The token answered when nothing is scripted. @default 'test-access-token' */
  token?: string;
  /** The credential reported when a call names none. @default 'default' */
  defaultCredential?: string;
  /** Credentials the double knows; a call naming another fails with `credential_unknown`. @default any */
  credentials?: string[];
  /** Lifetime of the tokens it answers. @default 3600 */
  expiresInSeconds?: number;
}

/**
 * A stand-in for `TokenService` in unit tests: no authority, no network, no timers. It answers a
 * fixed token, or scripted tokens and failures in order (use the library's own error classes, so
 * that the code under test meets the errors it will meet in production), and records every call.
 *
 * @example
 * const tokens = new TokenServiceDouble().willAnswer('t1', new TokenEndpointError('endpoint_unavailable', 'down', {}, true));
 * await job.run(); // gets 't1'
 * await expect(job.run()).rejects.toMatchObject({ code: 'endpoint_unavailable' });
 * expect(tokens.calls).toHaveLength(2);
 * @publicApi
 */
export class TokenServiceDouble {
  /** Every call answered, oldest first. */
  readonly calls: RecordedTokenCall[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private readonly options: Required<Omit<TokenServiceDoubleOptions, 'credentials'>> & {
    credentials?: string[];
  };

  constructor(options: TokenServiceDoubleOptions = {}) {
    this.options = {
      token: options.token ?? 'test-access-token',
      defaultCredential: options.defaultCredential ?? 'default',
      expiresInSeconds: options.expiresInSeconds ?? 3600,
      credentials: options.credentials,
    };
  }

  /** Queues answers for the next calls, in order; once used up, calls get the fixed token again. */
  willAnswer(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  /** Changes the fixed token answered when nothing is scripted. */
  willAlwaysAnswer(token: string): this {
    this.options.token = token;
    return this;
  }

  /** Forgets the calls and the answers still queued. */
  reset(): void {
    this.calls.length = 0;
    this.script.length = 0;
  }

  /** As `TokenService.getAccessToken`: the next scripted answer, or the fixed token. */
  async getAccessToken(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const credential = options?.credential ?? this.options.defaultCredential;
    const list = typeof scopes === 'string' ? [scopes] : [...scopes];
    const record = (outcome: RecordedTokenCall['outcome']) =>
      this.calls.push({
        scopes: list,
        credential,
        tenantId: options?.tenantId,
        forceRefresh: options?.forceRefresh === true,
        outcome,
      });
    const known = this.options.credentials;
    const answer: ScriptedAnswer =
      known !== undefined && !known.includes(credential)
        ? new InvalidRequestError(
            'credential_unknown',
            `No credential named '${credential}'; configured: ${known.join(', ')}.`,
            { credential },
          )
        : (this.script.shift() ?? this.options.token);
    if (answer instanceof Error) {
      record({ error: (answer as { code?: string }).code ?? answer.name });
      throw answer;
    }
    record({ token: answer });
    const expiresOn = new Date(Date.now() + this.options.expiresInSeconds * 1000);
    return new AccessToken(answer, 'Bearer', expiresOn, undefined, list, credential, 'network');
  }

  /** As `TokenService.getAuthorizationHeader`: `"Bearer <token>"`. */
  async getAuthorizationHeader(
    scopes: string | readonly string[],
    options?: GetTokenOptions,
  ): Promise<string> {
    const token = await this.getAccessToken(scopes, options);
    return `${token.tokenType} ${token.token}`;
  }

  /** Counters derived from the recorded calls: every answered call counts as a token request. */
  getStats(credential = this.options.defaultCredential): Readonly<CredentialStats> {
    const mine = this.calls.filter((c) => c.credential === credential);
    const failures: Record<string, number> = {};
    for (const c of mine) {
      if ('error' in c.outcome) failures[c.outcome.error] = (failures[c.outcome.error] ?? 0) + 1;
    }
    return {
      cacheHits: 0,
      cacheMisses: mine.length,
      storeHits: 0,
      tokenRequests: mine.length,
      refreshes: 0,
      failures,
    };
  }

  /** No shared cache in a double. */
  getCacheStats(): undefined {
    return undefined;
  }

  /** The credentials the double knows. */
  get credentialNames(): string[] {
    return this.options.credentials ?? [this.options.defaultCredential];
  }
}
