import type { LoggerService } from '@nestjs/common';
import { DownstreamApiError, type DownstreamApi } from '@app/client-credentials/downstream-api';
import type { WorkerConfig } from '../config/daemon-config.schema';

/** What every worker gets. */
export interface WorkerDeps {
  /** The API it calls: the downstream API its configuration names. */
  api: DownstreamApi;
  logger: LoggerService;
}

/** The API refused the call or failed; the run is counted as failed. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a worker GETs from its API. */
const DATA_PATH = 'data';

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

  /**
   * GETs the API's data through the named downstream API, with the worker's credential (and a
   * customer tenant for a sweep, an agent identity of a blueprint for an agents worker): the token
   * comes from the cache, and a token the API refuses is
   * replaced and the call re-sent once — logged, so a revocation shows in the log.
   */
  protected async callApi(
    signal: AbortSignal,
    tenantId?: string,
    agent?: string,
  ): Promise<unknown> {
    const { api, logger } = this.deps;
    const credential = this.config.credential;
    const where =
      `credential ${credential}` +
      (tenantId === undefined ? '' : ` tenant ${tenantId}`) +
      (agent === undefined ? '' : ` agent ${agent}`);
    const started = performance.now();
    try {
      const result = await api.call('GET', DATA_PATH, undefined, {
        credential,
        tenantId,
        agent,
        signal,
      });
      if (result.refused !== undefined) {
        logger.warn(
          `${this.name}: API '${api.name}' refused the token (401 ${result.refused}); ` +
            `a new token (from ${result.token.source}) was sent and the call succeeded (${where})`,
        );
      }
      logger.log(
        `${this.name}: GET ${result.url} -> ${result.status} in ${result.durationMs} ms ` +
          `(${where}, token from ${result.token.source}, ` +
          `expires ${result.token.expiresOn.toISOString()})`,
      );
      return result.body;
    } catch (e) {
      if (!(e instanceof DownstreamApiError) || e.status === undefined) throw e;
      // The line the operators (and the chaos campaign's parser) read for a refused call.
      const ms = Math.round(performance.now() - started);
      throw new ApiCallError(
        e.status,
        `${this.name}: GET ${api.name}/${DATA_PATH} -> ${e.status} in ${ms} ms (${where}): ${e.code}`,
        { cause: e },
      );
    }
  }
}
