// `@app/client-credentials/health`: the @nestjs/terminus health indicator, on its own entry point so
// that apps without terminus can import the library itself.
export { ClientCredentialsHealthIndicator } from './client-credentials.health';
export type {
  ClientCredentialsHealthOptions,
  CredentialHealth,
  TenantFailure,
} from './client-credentials.health';
