// The public API of @app/client-credentials: everything users may import is exported here by name.
export { AccessToken } from './access-token';
export { ClientCredentialsModule } from './client-credentials.module';
export { ClientCredentialsHealthIndicator } from './client-credentials.health';
export type { ClientCredentialsHealthOptions, CredentialHealth } from './client-credentials.health';
export { CLIENT_CREDENTIALS_OPTIONS } from './client-credentials.module-definition';
export type { ClientCredentialsModuleAsyncOptions } from './client-credentials.module-definition';
export type {
  AssertionContext,
  AssertionSourceOptions,
  CacheOptions,
  CertificateSourceOptions,
  ClientCredentialsModuleOptions,
  CredentialOptions,
  CredentialSource,
  GetTokenOptions,
  RefreshOptions,
  RetryOptions,
  SecretSourceOptions,
  TimeoutOptions,
} from './client-credentials.options';
export {
  ClientCredentialsError,
  ConfigurationError,
  InvalidRequestError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from './errors/client-credentials.errors';
export { AADSTS_CATALOG, ERROR_CATALOG } from './errors/error-catalog';
export type { ClientCredentialsErrorCode, ErrorHint } from './errors/error-catalog';
export type { CredentialStats } from './token-metrics';
export { TokenService } from './token.service';
