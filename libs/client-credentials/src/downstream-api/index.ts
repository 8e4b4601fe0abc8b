// `@app/client-credentials/downstream-api`: named downstream APIs from configuration.
export { DownstreamApi } from './downstream-api.client';
export type { DownstreamApiResult, DownstreamCallOptions } from './downstream-call';
export { getDownstreamApiToken, InjectDownstreamApi } from './downstream-api.decorator';
export { DownstreamApiModule, DownstreamApis } from './downstream-api.module';
export type { DownstreamApiModuleAsyncOptions } from './downstream-api.module';
export {
  DEFAULT_API_TIMEOUT_MS,
  downstreamApisFromConfig,
  downstreamApisSchema,
  resolveDownstreamApis,
} from './downstream-api.options';
export type { DownstreamApiModuleOptions, DownstreamApiOptions } from './downstream-api.options';
export { DownstreamApiError } from '../calling/calling.errors';
