/**
 * The local Entra ID–compatible authority: start it in-process, provision tenants/apps/credentials,
 * inject faults and read the request log.
 */
export { DEMO_API_APP_ID_URI } from './authority';
export { startDevAuthority } from './start';
export { AADSTS, type AadstsCode, type EntraErrorBody } from './errors';
export { TOKEN_EXCHANGE_APP_ID, TOKEN_EXCHANGE_AUDIENCE } from './directory';
export { exchangeSubject } from './agent-id';
export type { RevocationChallenge } from './revocation';
export type {
  AgentBlueprint,
  AgentIdentity,
  AgentUser,
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
  DEMO_AGENTS,
  DEMO_SERVICE_ACCOUNT,
  type DemoApp,
  type DevAuthorityManifest,
} from './demo';
