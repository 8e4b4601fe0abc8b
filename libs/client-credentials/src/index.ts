// The public API of @app/client-credentials: everything users may import is exported here by name.
export { AccessToken } from './access-token';
export {
  clientCredentialsOptionsFromConfig,
  credentialFromEnvironment,
  ENVIRONMENT_CREDENTIAL,
  ENVIRONMENT_VARIABLES,
} from './options/options-from-config';
export { ClientCredentialsModule } from './client-credentials.module';
export { CLIENT_CREDENTIALS_EVENT_PREFIX } from './client-credentials.events';
export type {
  AgentLegName,
  ClientCredentialsEvent,
  ClientCredentialsEventType,
  EventError,
  SourceRestoredEvent,
  SourceSkippedEvent,
  TokenEventTarget,
  TokenFailureEvent,
  TokenRefreshEvent,
  TokenRefusedEvent,
  WarmUpEvent,
  WarmUpFailure,
  WarmUpProgress,
  WarmUpStatus,
} from './client-credentials.events';
// The health indicator needs @nestjs/terminus: it is exported by `@app/client-credentials/health`.
export { CLIENT_CREDENTIALS_OPTIONS } from './client-credentials.module-definition';
export type { ClientCredentialsModuleAsyncOptions } from './client-credentials.module-definition';
export type {
  BoundCertificate,
  CacheOptions,
  ClientCredentialsModuleOptions,
  GetTokenOptions,
  ProofRequest,
  RefreshOptions,
  RequestHeaders,
  RetryOptions,
  TimeoutOptions,
  TokenBinding,
  TrustOptions,
  WarmUpOptions,
  WarmUpToken,
} from './client-credentials.options';
export type {
  AgentBlueprintOptions,
  AssertionContext,
  AssertionSourceOptions,
  CertificateSigner,
  CertificateSourceOptions,
  CredentialOptions,
  CredentialSource,
  DpopOptions,
  KeyVaultSourceOptions,
  ManagedIdentityAssertionSourceOptions,
  ManagedIdentitySourceOptions,
  MtlsOptions,
  Pkcs11SourceOptions,
  ProxyOptions,
  SecretSourceOptions,
  SignatureAlgorithm,
  SignerSourceBase,
  SignerSourceOptions,
  TokenRequestContext,
  TokenRequestOptions,
  WorkloadIdentitySourceOptions,
} from './credential.options';
export {
  ClientCredentialsError,
  ConfigurationError,
  InvalidRequestError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from './errors/client-credentials.errors';
export { AADSTS_CATALOG, AGENT_AADSTS_CATALOG, ERROR_CATALOG } from './errors/error-catalog';
export type { ClientCredentialsErrorCode, ErrorHint } from './errors/error-catalog';
export type {
  CredentialStats,
  RecordedProblem,
  TenantStats,
} from './observability/credential-stats';
export type {
  SharedCacheClusterOptions,
  RedisClientLike,
  RedisCommands,
  SharedCacheKey,
  SharedCacheOptions,
  SharedCacheSentinelOptions,
} from './shared-cache.options';
export type { SharedCacheStats } from './shared-cache/shared-cache-stats';
export { TokenService } from './token.service';
