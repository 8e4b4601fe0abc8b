import type { GetTokenOptions } from '../client-credentials.options';
import { agentRefusal, unknownCredential } from '../credentials/credential-registry';
import { ConfigurationError } from '../errors/client-credentials.errors';
import { validateScopes, validateTenant } from '../options/request-validation';

/** What the double knows of its credentials, as its options say. */
export interface DoubleCredentialSettings {
  credentials?: readonly string[];
  defaultCredential?: string;
  tenantId: string;
  protocol: 'entra' | 'oidc';
  agentBlueprints: readonly string[];
}

/**
 * Which calls the double refuses before its script is consumed, with the real service's codes and
 * messages: the same functions check them (request-validation, the registry's refusals), on the
 * double's credential names in place of configured credentials. Nothing here needs a network.
 */
export class DoubleCredentials {
  /** The credential a call naming none goes to, as `resolveOptions` chooses it; none with several. */
  readonly defaultName: string | undefined;

  constructor(private readonly settings: DoubleCredentialSettings) {
    const { credentials, defaultCredential, agentBlueprints } = settings;
    this.defaultName =
      defaultCredential ??
      (credentials === undefined
        ? 'default'
        : credentials.length === 1
          ? credentials[0]
          : undefined);
    const problems: string[] = [];
    if (credentials !== undefined && defaultCredential !== undefined) {
      if (!credentials.includes(defaultCredential)) {
        problems.push(
          `defaultCredential: '${defaultCredential}' is not one of credentials — use one of: ${credentials.join(', ')}`,
        );
      }
    }
    for (const name of agentBlueprints) {
      if (!this.names.includes(name)) {
        problems.push(
          `agentBlueprints: '${name}' is not a credential of the double — use one of: ${this.names.join(', ')}`,
        );
      }
    }
    if (problems.length > 0) throw new ConfigurationError(problems);
  }

  /** The credentials the double knows. */
  get names(): string[] {
    return [...(this.settings.credentials ?? (this.defaultName ? [this.defaultName] : []))];
  }

  /**
   * The credential `name` names, or the default one.
   * @throws InvalidRequestError `credential_unknown`
   */
  get(name: string | undefined): string {
    const credential = name ?? this.defaultName;
    const known = this.settings.credentials;
    if (credential === undefined || (known !== undefined && !known.includes(credential))) {
      throw unknownCredential(name, known ?? this.names);
    }
    return credential;
  }

  /**
   * Checks a call as `TokenService` does before any network call: credential, agent, scopes,
   * tenant (in that order, as the real one).
   * @returns the credential's name
   * @throws InvalidRequestError `credential_unknown`, `agent_unsupported`, `scope_invalid`,
   * `tenant_invalid`
   */
  check(
    scopes: string | readonly string[],
    options: Pick<GetTokenOptions, 'credential' | 'tenantId' | 'agent' | 'agentUser'> | undefined,
  ): string {
    const credential = this.get(options?.credential ?? undefined);
    const { protocol, agentBlueprints } = this.settings;
    const refusal = agentRefusal(credential, agentBlueprints.includes(credential), options);
    if (refusal !== undefined) throw refusal;
    // An agent user's token is delegated: its scopes are the user's, not `<resource>/.default`.
    validateScopes(scopes, options?.agentUser === undefined ? protocol : 'oidc', credential);
    const tenantId = options?.tenantId;
    // The home tenant however spelt is the credential's own (the double's may be no real tenant id).
    if (this.otherTenant(tenantId) !== undefined) validateTenant(tenantId!, protocol, credential);
    return credential;
  }

  /**
   * The tenant a checked call's outcome is kept under: undefined for the credential's own; Entra's
   * tenant ids and domains ignore case (one tenant however it is spelt), as the real service's.
   */
  otherTenant(tenantId: string | undefined): string | undefined {
    if (tenantId === undefined) return undefined;
    const entra = this.settings.protocol === 'entra';
    const tenant = entra ? tenantId.toLowerCase() : tenantId;
    const home = entra ? this.settings.tenantId.toLowerCase() : this.settings.tenantId;
    return tenant === home ? undefined : tenant;
  }
}
