import { ClientCredentialsError } from './client-credentials.errors';

/**
 * A source that cannot be used right now (its file is missing, its endpoint absent): the
 * credential moves on to its next source and tries this one again after a cool-down.
 */
export class SourceUnavailableError extends ClientCredentialsError {
  constructor(sourceId: string, reason: string) {
    super('source_unavailable', `Credential source '${sourceId}' is unavailable: ${reason}.`);
  }
}
