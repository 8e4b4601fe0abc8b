// Authenticated calls to APIs (`@app/client-credentials/calling`): the Azure SDK TokenCredential,
// fetch/undici, and the errors they raise. axios lives in `@app/client-credentials/calling/axios`,
// so that apps without axios never load it.
export { CALLING_ERROR_CATALOG, DownstreamApiError } from './calling.errors';
export type { DownstreamApiErrorCode, DownstreamApiErrorContext } from './calling.errors';
