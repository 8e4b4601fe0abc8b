import { after, onAbort } from '../timing/timers';
import { ClientCredentialsError, TokenEndpointError } from '../errors/client-credentials.errors';
import type { TokenRequest } from '../credentials/token-request';

/** The error of a caller that stopped waiting. */
export function abortedBy(request: TokenRequest): ClientCredentialsError {
  return new ClientCredentialsError('aborted', 'The caller aborted the token request.', {
    credential: request.credential.name,
    tenantId: request.tenantId,
  });
}

/**
 * Waits for a shared flight as one caller: no longer than `ms`, and not past the caller's signal.
 * The flight itself goes on for the others (its own rejection is handled where it was started).
 * @param told the caller's whole wait, as its timeout error names it, when `ms` is what is left of it
 */
export function waitAsCaller<T>(
  flight: Promise<T>,
  request: TokenRequest,
  ms: number,
  signal?: AbortSignal,
  told = ms,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortedBy(request));
  const where = { credential: request.credential.name, tenantId: request.tenantId };
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      timer.clear();
      stopListening?.();
    };
    const timer = after(ms, () => {
      done();
      reject(
        new TokenEndpointError(
          'timeout',
          `No token for credential '${where.credential}' within ${told} ms.`,
          where,
          true,
        ),
      );
    });
    const stopListening =
      signal &&
      onAbort(signal, () => {
        done();
        reject(abortedBy(request));
      });
    flight.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: Error) => {
        done();
        reject(e);
      },
    );
  });
}
