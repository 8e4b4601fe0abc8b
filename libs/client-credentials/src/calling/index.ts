// Authenticated calls to APIs (`@app/client-credentials/calling`): the Azure SDK TokenCredential,
// fetch/undici, the 401 and claims challenge handling they share, and their errors. axios lives in
// `@app/client-credentials/calling/axios`, so that apps without axios never load it.
export { createAuthenticatedFetch } from './authenticated-fetch';
export type {
  AuthenticatedFetch,
  AuthenticatedFetchOptions,
  FetchFunction,
} from './authenticated-fetch';
export { CALLING_ERROR_CATALOG, DownstreamApiError } from './calling.errors';
export type { DownstreamApiErrorCode, DownstreamApiErrorContext } from './calling.errors';
export { parseBearerChallenge, tokenAfterChallenge } from './challenge';
export type { BearerChallenge, TokenTarget } from './challenge';
export { createTokenCredential } from './token-credential';
export type {
  AzureAccessToken,
  AzureGetTokenOptions,
  AzureTokenCredential,
  TokenCredentialOptions,
} from './token-credential';
