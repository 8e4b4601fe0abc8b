import type { LoggerService } from '@nestjs/common';
import type { TokenService } from '@app/client-credentials';
import type { ProtectedApiClient } from '../api/protected-api.client';
import type { WorkerConfig } from '../config/daemon-config.schema';

/** What every worker gets. */
export interface WorkerDeps {
  tokens: TokenService;
  api: ProtectedApiClient;
  /** The API's scope (`<resource>/.default`). */
  scope: string;
  logger: LoggerService;
}

/** The API refused a token or failed; the run is counted as failed. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A scheduled job: one `run()` per tick. Subclasses say what a run does; this class holds the
 * authenticated call they share.
 */
export abstract class Worker {
  constructor(
    readonly name: string,
    readonly config: WorkerConfig,
    protected readonly deps: WorkerDeps,
  ) {}

  /** One run; `signal` aborts it at shutdown. Throws when the run failed. */
  abstract run(signal: AbortSignal): Promise<void>;

  /** Gets a token (from the cache or the authority) and GETs the API's data with it. */
  protected async callApi(signal: AbortSignal, tenantId?: string): Promise<unknown> {
    const { tokens, api, scope, logger } = this.deps;
    const token = await tokens.getAccessToken(scope, {
      credential: this.config.credential,
      tenantId,
      signal,
    });
    const answer = await api.getData(`${token.tokenType} ${token.token}`, signal);
    const where = tenantId === undefined ? '' : ` tenant ${tenantId}`;
    const line =
      `${this.name}: GET ${api.url} -> ${answer.status} in ${answer.ms} ms ` +
      `(credential ${this.config.credential}${where}, token from ${token.source}, ` +
      `expires ${token.expiresOn.toISOString()})`;
    if (answer.status !== 200) throw new ApiCallError(answer.status, line);
    logger.log(line);
    return answer.body;
  }
}
