import { AccessToken } from '../access-token';
import type { GetTokenOptions } from '../client-credentials.options';
import { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { DoubleCredentials } from './double-requests';
import { scopeKey } from '../options/request-validation';
import { DoubleRefusals } from './double-refusals';
import { DoubleStats } from './double-stats';

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
  expiresInSeconds: number;
}

/**
 * What the double answers and what it recorded: the queue of scripted answers, the fixed token
 * once it is used up, the refusals the real service would make before any network call (unknown
 * credential, agent, scopes, tenant — {@link DoubleCredentials}; an aborted signal), every call
 * with its outcome, and the counters of the answers ({@link DoubleStats}). The double owns the
 * method shapes; this decides the answers.
 */
export class ScriptedAnswers {
  /** Every call answered, oldest first. */
  readonly calls: RecordedTokenCall[] = [];
  /** The counters `getStats()` reports, kept as the real service keeps them. */
  readonly stats = new DoubleStats();
  /** The tokens refused, and the real service's hold-off of their replacements. */
  readonly refusals = new DoubleRefusals();
  private readonly script: ScriptedAnswer[] = [];

  /** `options` is read when a call comes: the double changes its fixed token in place. */
  constructor(
    private readonly options: ScriptSettings,
    readonly credentials: DoubleCredentials,
  ) {}

  /** Queues answers for the next calls that get a token, in order. */
  queue(answers: readonly ScriptedAnswer[]): void {
    this.script.push(...answers);
  }

  /** Forgets the calls, the answers still queued and the counters. */
  reset(): void {
    this.calls.length = 0;
    this.script.length = 0;
    this.stats.reset();
    this.refusals.reset();
  }

  /**
   * The call as made, checked as the real service checks it before any network call: a call it
   * would refuse is recorded with its error and throws, before the script is consumed.
   * @throws InvalidRequestError `credential_unknown`, `agent_unsupported`, `scope_invalid`,
   * `tenant_invalid`
   */
  callOf(
    kind: RecordedTokenCall['kind'],
    scopes: string | readonly string[],
    options: GetTokenOptions | undefined,
  ): CallOf {
    const call: CallOf = {
      kind,
      scopes:
        typeof scopes === 'string'
          ? [scopes]
          : Array.isArray(scopes)
            ? [...(scopes as readonly string[])]
            : [],
      credential: options?.credential ?? this.credentials.defaultName ?? '',
      tenantId: options?.tenantId,
      ...(options?.agent === undefined ? {} : { agent: options.agent }),
      ...(options?.agentUser === undefined ? {} : { agentUser: options.agentUser }),
      forceRefresh: options?.forceRefresh === true,
    };
    try {
      this.credentials.check(scopes, options);
    } catch (e) {
      this.fail(call, e as Error);
    }
    return call;
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
   * Records the refusal of `refused` (a `replace` or `forget`), as the real service does; false
   * while the real service would hold it off (see {@link DoubleRefusals}).
   */
  refuse(call: CallOf, refused: string, revokedBefore?: number): boolean {
    return this.refusals.refuse(keyOf(call), refused, revokedBefore);
  }

  /**
   * The call's answer: a refusal of the call itself (aborted signal), else the next scripted
   * answer or the fixed token — none for a `replace` of `refused` held off (a replacement refused
   * again at once), or when the answer is the `refused` token.
   */
  answer(call: CallOf, signal: AbortSignal | undefined): AccessToken;
  answer(call: CallOf, signal: AbortSignal | undefined, refused: string): AccessToken | undefined;
  answer(call: CallOf, signal: AbortSignal | undefined, refused?: string): AccessToken | undefined {
    // As the real service: the API's refusal stands even when the caller gave up.
    const replaced = refused === undefined || this.refuse(call, refused);
    if (signal?.aborted) {
      this.fail(
        call,
        new ClientCredentialsError('aborted', 'The caller aborted the token request.', {
          credential: call.credential,
          tenantId: call.tenantId,
        }),
      );
    }
    const outcomeOf = {
      credential: call.credential,
      tenantId: this.credentials.otherTenant(call.tenantId),
      agent: call.agent,
      agentUser: call.agentUser,
      scope: scopeKey(call.scopes),
    };
    if (!replaced) {
      this.calls.push({ ...call, outcome: { none: true } });
      return undefined;
    }
    const answer = this.script.shift() ?? this.options.token;
    if (answer instanceof Error) {
      this.stats.failure(outcomeOf, answer);
      this.fail(call, answer);
    }
    if (answer === refused) {
      this.calls.push({ ...call, outcome: { none: true } });
      return undefined;
    }
    this.calls.push({ ...call, outcome: { token: answer } });
    this.refusals.answered(keyOf(call), answer);
    const expiresOn = Date.now() + this.options.expiresInSeconds * 1000;
    this.stats.success(outcomeOf, expiresOn);
    const { scopes, credential } = call;
    return new AccessToken(answer, 'Bearer', expiresOn, undefined, scopes, credential, 'network');
  }
}

/** A call's request key, as the real service keys its tokens (a claims token under its claims). */
function keyOf(call: CallOf): string {
  const { credential, tenantId, agent, agentUser, claims } = call;
  return [credential, tenantId, agent, agentUser, scopeKey(call.scopes), claims].join('\n');
}
