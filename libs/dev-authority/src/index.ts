/**
 * The local Entra ID–compatible authority: start it in-process, provision tenants/apps/credentials,
 * inject faults and read the request log.
 */
export { DEMO_API_APP_ID_URI } from './authority';
export { startDevAuthority } from './start';
export { AADSTS, type AadstsCode, type EntraErrorBody } from './errors';
export { TOKEN_EXCHANGE_AUDIENCE } from './directory';
export type { RevocationChallenge } from './revocation';
export type {
  App,
  ClientCertificate,
  CreateAppOptions,
  CredentialKind,
  DevAuthority,
  DevAuthorityOptions,
  ExternalIssuer,
  FaultSpec,
  FaultTarget,
  KeyCertificate,
  KeyVault,
  ManagedIdentity,
  RequestLogEntry,
  SniCertificate,
  Tenant,
  TokenRequestFilter,
  VaultKeyVersion,
} from './types';
export {
  provisionDemo,
  writeFederatedToken,
  DEMO_SERVICE_ACCOUNT,
  type DemoApp,
  type DevAuthorityManifest,
} from './demo';
