// `nest-client-credentials/testing`: doubles for unit tests and the local authority for end-to-end
// tests. On its own entry point: production code never loads it (the authority needs @peculiar/x509).
export { ClientCredentialsTestingModule } from './client-credentials-testing.module';
export type { ClientCredentialsTestingModuleOptions } from './client-credentials-testing.module';
export { TokenServiceDouble } from './token-service.double';
export type { TokenServiceDoubleOptions } from './token-service.double';
export type { RecordedTokenCall, ScriptedAnswer } from './scripted-answers';
export { createLocalApplication, startLocalAuthority } from './local-authority';
export type {
  FaultSpec,
  KeyCertificate,
  LocalApp,
  LocalApplication,
  LocalAuthority,
  LocalAuthorityOptions,
  LocalKeyVault,
  LocalTenant,
  RequestLogEntry,
  TokenRequestFilter,
  VaultKeyVersion,
} from './local-authority';
