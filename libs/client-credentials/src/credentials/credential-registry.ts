import type { GetTokenOptions } from '../client-credentials.options';
import type { Credential } from './credential';
import { ClientCredentialsError, InvalidRequestError } from '../errors/client-credentials.errors';
import { scopeKey, validateScopes, validateTenant } from '../options/request-validation';
import { checkAgentUserScopes } from './agents/agent-user';
import type { Principal } from './principal';
import type { TokenRequest } from './token-request';

/** What a call names besides its scopes. */
export type CallOptions = Pick<GetTokenOptions, 'credential' | 'tenantId' | 'agent' | 'agentUser'>;

/**
 * Why a call naming an agent (or an agent user) is refused before anything else is looked at:
 * an agent user without its agent, or an agent of a credential that is no agent identity
 * blueprint. Undefined when the call may go on. Also what the testing kit's double refuses.
 */
export function agentRefusal(
  credential: string,
  isBlueprint: boolean,
  who: Pick<GetTokenOptions, 'agent' | 'agentUser'> | undefined,
): InvalidRequestError | undefined {
  if (who?.agent === undefined) {
    if (who?.agentUser === undefined) return undefined;
    return new InvalidRequestError(
      'agent_unsupported',
      `An agent user was named without its agent identity (credential '${credential}'): pass \`agent\` too.`,
      { credential },
    );
  }
  if (isBlueprint) return undefined;
  return new InvalidRequestError(
    'agent_unsupported',
    `Credential '${credential}' is not an agent identity blueprint: it has no agents (set \`agentBlueprint\` in its options if it is one).`,
    { credential },
  );
}

/**
 * Whom a call's token is for: the credential itself, or an agent identity of a blueprint
 * credential, or that agent's agent user.
 * @throws InvalidRequestError `agent_unsupported`, `agent_unknown`, `agent_user_invalid`
 */
function principalOf(
  credential: Credential,
  who: Pick<GetTokenOptions, 'agent' | 'agentUser'> | undefined,
): Principal {
  const refusal = agentRefusal(credential.name, credential.agents !== undefined, who);
  if (refusal !== undefined) throw refusal;
  if (who?.agent === undefined || credential.agents === undefined) return credential;
  const agent = credential.agents.resolve(who.agent);
  return who.agentUser === undefined ? agent : credential.agents.resolveUser(agent, who.agentUser);
}

/**
 * The agent (or agent user) a call names, when its credential already knows it: the cache-hit
 * path's lookup, which validates nothing (a miss goes through {@link CredentialRegistry.validate}).
 * Undefined for an agent user named without its agent: never the credential's own entry.
 */
export function agentOf(
  credential: Credential,
  who: Pick<GetTokenOptions, 'agent' | 'agentUser'>,
): Principal | undefined {
  if (who.agent === undefined) return undefined;
  const agent = credential.agents?.find(who.agent);
  return who.agentUser === undefined ? agent : agent?.user(who.agentUser);
}

/**
 * The configured credentials by name, and what turns a call (scopes, credential, tenant) into a
 * validated {@link TokenRequest}: every check happens here, before any flight, lock, cool-down
 * or network call.
 */
export class CredentialRegistry {
  private readonly byName = new Map<string, Credential>();
  /** The default credential, once added: most calls name none, and need no lookup. */
  private defaultCredential: Credential | undefined;
  private closed = false;

  constructor(private readonly defaultName: string | undefined) {}

  add(credential: Credential): void {
    this.byName.set(credential.name, credential);
    if (credential.name === this.defaultName) this.defaultCredential = credential;
  }

  /** The credential a call names, or the default one; undefined when there is none. */
  find(name: string | undefined): Credential | undefined {
    // `null` too: options built from JSON or a configuration may name none that way.
    return name == null ? this.defaultCredential : this.byName.get(name);
  }

  /** @throws InvalidRequestError `credential_unknown` */
  get(name: string | undefined): Credential {
    const credential = this.find(name);
    if (credential === undefined) throw this.unknown(name);
    return credential;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get all(): Credential[] {
    return [...this.byName.values()];
  }

  /** The request of a call, validated: the same index key as a cache hit looks up. */
  request(scopes: string | readonly string[], options?: CallOptions): TokenRequest {
    const credential = this.get(options?.credential);
    const tenantId = options?.tenantId ?? credential.options.tenantId;
    return this.validate(credential, tenantId, scopes, scopeKey(scopes), options);
  }

  /**
   * Checks scopes, tenant and agent; `sk` is the scopes' {@link scopeKey}. The request's principal
   * is the credential, or the agent (or agent user) of a blueprint the call names.
   */
  validate(
    credential: Credential,
    tenantId: string,
    scopes: string | readonly string[],
    sk: string,
    who?: Pick<GetTokenOptions, 'agent' | 'agentUser'>,
  ): TokenRequest {
    if (this.closed)
      throw new ClientCredentialsError('shutdown', 'The token service is shut down.');
    const principal = principalOf(credential, who);
    const { protocol, tenantId: home } = credential.options;
    // An agent user's token is delegated: its scopes are the user's, not `<resource>/.default`.
    const list = validateScopes(
      scopes,
      who?.agentUser === undefined ? protocol : 'oidc',
      credential.name,
    );
    if (who?.agentUser !== undefined) checkAgentUserScopes(list, credential.name);
    let tenant = tenantId;
    if (tenantId !== home) {
      validateTenant(tenantId, protocol, credential.name);
      // E.g. a managed identity has no other tenant.
      const unsupported = credential.tenants.problem(tenantId);
      if (unsupported !== undefined) throw unsupported;
      if (credential.tenants.ownOnly) {
        // Its own tenant, named (an SDK names the tenant of a resource's challenge): its tokens
        // are those of the home key. A managed identity's is checked against its token's `tid`
        // by whoever gets the token (CredentialTenants.assertOwn).
        tenant = home;
      } else if (protocol === 'entra') {
        // Entra's tenant ids and domains ignore case: one token per tenant however it is spelt
        // (the home tenant as configured, so that the hit path finds it). An OIDC realm may not.
        tenant = tenantId.toLowerCase() === home.toLowerCase() ? home : tenantId.toLowerCase();
      }
    }
    return { credential: principal, tenantId: tenant, scopes: list, scopeKey: sk };
  }

  /** Refuses every request from now on (`shutdown`). */
  close(): void {
    this.closed = true;
  }

  /** @throws InvalidRequestError `credential_unknown` */
  unknown(name: string | undefined): InvalidRequestError {
    return unknownCredential(name, this.names);
  }
}

/**
 * The refusal of a call naming a credential that is not configured (`name`), or naming none where
 * there is no default credential (several configured, none chosen). Also what the testing kit's
 * double refuses.
 */
export function unknownCredential(
  name: string | undefined,
  configured: readonly string[],
): InvalidRequestError {
  const names = configured.join(', ');
  return new InvalidRequestError(
    'credential_unknown',
    name === undefined
      ? `No credential named and no default credential: name one of ${names}.`
      : `Unknown credential '${name}': configured are ${names}.`,
  );
}
