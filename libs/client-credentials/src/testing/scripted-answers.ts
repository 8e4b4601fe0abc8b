import { AccessToken } from '../access-token';
import type { GetTokenOptions } from '../client-credentials.options';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import type { CredentialStats } from '../observability/credential-stats';

/** One call the double answered, as the code under test made it. @publicApi */
export interface RecordedTokenCall {
  /**
   * Which method was called: `token` (`getAccessToken`, `getAuthorizationHeader`), `replace`
   * (`replaceRefusedToken`), `forget` (`forgetRefusedToken`), `claims` (`getAccessTokenWithClaims`).
   */
  readonly kind: 'token' | 'replace' | 'forget' | 'claims';
  /** The scopes asked for. */
  readonly scopes: readonly string[];
  /** The credential named (or the double's default). */
  readonly credential: string;
  readonly tenantId?: string;
  /** The agent identity named (`agent`), and its agent user (`agentUser`), if any. */
  readonly agent?: string;
  readonly agentUser?: string;
  readonly forceRefresh: boolean;
  /** `replace` and `forget`: the token the API refused. */
  readonly refused?: string;
  /** `claims`: the claims asked for (a JSON object, as decoded from the challenge). */
  readonly claims?: string;
  /**
   * What the call got: the token's value, the error's code, or none — a `forget`, and a `replace`
   * that found no new token (the integrations then return the API's 401).
   */
  readonly outcome: { token: string } | { error: string } | { none: true };
}

/** What a scripted call answers: a token value, or an error to throw (e.g. a real library error). */
export type ScriptedAnswer = string | Error;

/** Where a call went and what it asked, before its answer. */
export type CallOf = Omit<RecordedTokenCall, 'outcome'>;

/** What {@link ScriptedAnswers} reads of the double's options, when a call comes. */
export interface ScriptSettings {
  token: string;
  defaultCredential: string;
  tenantId: string;
  expiresInSeconds: number;
  credentials?: string[];
}

/**
 * What the double answers and what it recorded: the queue of scripted answers, the fixed token
 * once it is used up, the refusals the real service would make (unknown credential, aborted
 * signal), and every call with its outcome. The double owns the method shapes; this decides the
 * answers.
 */
export class ScriptedAnswers {
  /** Every call answered, oldest first. */
  readonly calls: RecordedTokenCall[] = [];
  private readonly script: ScriptedAnswer[] = [];

  /** `options` is read when a call comes: the double changes its fixed token in place. */
  constructor(private readonly options: ScriptSettings) {}

  /** Queues answers for the next calls that get a token, in order. */
  queue(answers: readonly ScriptedAnswer[]): void {
    this.script.push(...answers);
  }

  /** Forgets the calls and the answers still queued. */
  reset(): void {
    this.calls.length = 0;
    this.script.length = 0;
  }

  /**
   * Counters derived from the recorded calls of `credential`: every call that got a token, or
   * failed to, counts as a token request (`forget` does not).
   */
  stats(credential: string): CredentialStats {
    const mine = this.calls.filter((c) => c.credential === credential && c.kind !== 'forget');
    const failures: Record<string, number> = {};
    for (const c of mine) {
      if ('error' in c.outcome) failures[c.outcome.error] = (failures[c.outcome.error] ?? 0) + 1;
    }
    return {
      credential,
      cacheHits: 0,
      cacheMisses: mine.length,
      storeHits: 0,
      tokenRequests: mine.length,
      refreshes: 0,
      failures,
    };
  }

  /** The call as made, before its answer. */
  callOf(
    kind: RecordedTokenCall['kind'],
    scopes: string | readonly string[],
    options: GetTokenOptions | undefined,
  ): CallOf {
    return {
      kind,
      scopes: typeof scopes === 'string' ? [scopes] : [...scopes],
      credential: options?.credential ?? this.options.defaultCredential,
      tenantId: options?.tenantId,
      ...(options?.agent === undefined ? {} : { agent: options.agent }),
      ...(options?.agentUser === undefined ? {} : { agentUser: options.agentUser }),
      forceRefresh: options?.forceRefresh === true,
    };
  }

  /** `credential_unknown` for a credential the double does not know, as the real service. */
  unknownCredential(credential: string): InvalidRequestError | undefined {
    const known = this.options.credentials;
    if (known === undefined || known.includes(credential)) return undefined;
    return new InvalidRequestError(
      'credential_unknown',
      `No credential named '${credential}'; configured: ${known.join(', ')}.`,
      { credential },
    );
  }

  /** Records `error` as the call's outcome and throws it. */
  fail(call: CallOf, error: Error): never {
    this.calls.push({
      ...call,
      outcome: { error: (error as { code?: string }).code ?? error.name },
    });
    throw error;
  }

  /**
   * The call's answer: a refusal of the call itself (unknown credential, aborted signal), else the
   * next scripted answer or the fixed token — none when it is the `refused` token.
   */
  answer(call: CallOf, signal: AbortSignal | undefined): AccessToken;
  answer(call: CallOf, signal: AbortSignal | undefined, refused: string): AccessToken | undefined;
  answer(call: CallOf, signal: AbortSignal | undefined, refused?: string): AccessToken | undefined {
    const unknown = this.unknownCredential(call.credential);
    if (unknown !== undefined) this.fail(call, unknown);
    if (signal?.aborted) {
      this.fail(
        call,
        new ClientCredentialsError('aborted', 'The caller aborted the token request.', {
          credential: call.credential,
          tenantId: call.tenantId,
        }),
      );
    }
    const answer = this.script.shift() ?? this.options.token;
    if (answer instanceof Error) this.fail(call, answer);
    if (answer === refused) {
      this.calls.push({ ...call, outcome: { none: true } });
      return undefined;
    }
    this.calls.push({ ...call, outcome: { token: answer } });
    const expiresOn = Date.now() + this.options.expiresInSeconds * 1000;
    const { scopes, credential } = call;
    return new AccessToken(answer, 'Bearer', expiresOn, undefined, scopes, credential, 'network');
  }
}
