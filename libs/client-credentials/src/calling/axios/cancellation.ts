import { ClientCredentialsError } from '../../errors/client-credentials.errors';
import { redactConfig, type Config } from './call-state';

/**
 * What axios rejects with when a request's signal aborts it — its `CanceledError`: `name`,
 * `message: 'canceled'`, `code: 'ERR_CANCELED'`, `__CANCEL__` (what `axios.isCancel` tests) and
 * `isAxiosError`, with the request's config. Written here because axios is a types-only import of
 * this library (an instance made by `axios.create` does not expose the class): `instanceof
 * CanceledError` is false, every check axios documents holds.
 */
export class AxiosCancellation extends Error {
  override readonly name = 'CanceledError';
  readonly code = 'ERR_CANCELED';
  readonly __CANCEL__ = true;
  readonly isAxiosError = true;
  readonly request = undefined;
  readonly response = undefined;
  readonly status = undefined;

  constructor(
    readonly config: Config | undefined,
    cause: unknown,
  ) {
    super('canceled', { cause });
  }

  /** As `AxiosError.toJSON()`, without the config (which can hold agents and cycles). */
  toJSON(): Record<string, unknown> {
    return { message: this.message, name: this.name, code: this.code, status: this.status };
  }
}

/**
 * The error a call rejects with when the token it awaited failed: axios's cancellation when the
 * call's own signal aborted the wait (the token service's `aborted`) — as axios rejects a request
 * that signal ends, so that `axios.isCancel(e)` holds — else the error itself.
 */
export function asCancellation(error: unknown, config: Config | undefined): unknown {
  const signal = config?.signal as AbortSignal | undefined;
  if (!signal?.aborted || !(error instanceof ClientCredentialsError) || error.code !== 'aborted') {
    return error;
  }
  redactConfig(config);
  return new AxiosCancellation(config, error);
}
