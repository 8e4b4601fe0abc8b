import {
  TOKEN_EXCHANGE_AUDIENCE,
  type AppRecord,
  type Directory,
  type ResourceRecord,
} from './directory';
import { EntraError } from './errors';

/*
 * Microsoft Entra Agent ID as the token endpoint sees it (sources in docs/dev-authority.md):
 * a blueprint's token exchange token for one of its agent identities (leg 1, "T1", asked with
 * `fmi_path=<agent app id>`), and the claims of the tokens issued to agent identities (leg 2).
 */

/** The bytes of a GUID as .NET's `Guid.ToByteArray` lays them out (first three groups reversed). */
function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  const bytes = Buffer.from(hex, 'hex');
  const reverse = (start: number, length: number) =>
    Buffer.from(bytes.subarray(start, start + length)).reverse();
  return Buffer.concat([reverse(0, 4), reverse(4, 2), reverse(6, 2), bytes.subarray(8)]);
}

/**
 * The `sub` of a blueprint's token exchange token for `fmiPath`, as in captured Entra tokens:
 * `/eid1/c/pub/t/{tenant}/a/{blueprint app id}/{fmi_path}`, the GUIDs base64url of their bytes.
 */
export function exchangeSubject(tenantId: string, blueprintId: string, fmiPath: string): string {
  const t = guidBytes(tenantId).toString('base64url');
  const a = guidBytes(blueprintId).toString('base64url');
  return `/eid1/c/pub/t/${t}/a/${a}/${fmiPath}`;
}

/** What a token request of a blueprint for the token exchange audience asks for. */
export interface ExchangeGrant {
  /** The agent identity the token is for. */
  agent: AppRecord;
  /** T1's `sub`. */
  subject: string;
}

/**
 * Checks `fmi_path` of a client credentials request: a blueprint asking for the token exchange
 * audience must name one of its own agent identities of this tenant; no other request may carry
 * it. Undefined when the request is an ordinary one.
 * @throws EntraError 82008 (a blueprint without `fmi_path`), 9002313 (an `fmi_path` Entra would
 *   not honour: not a blueprint, another scope, or an agent not of this blueprint and tenant)
 */
export function exchangeGrant(
  directory: Directory,
  app: AppRecord,
  resource: ResourceRecord,
  fmiPath: string | null,
): ExchangeGrant | undefined {
  const exchange = resource.appIdUri.toLowerCase() === TOKEN_EXCHANGE_AUDIENCE.toLowerCase();
  if (fmiPath === null) {
    if (exchange && app.blueprint) {
      throw new EntraError(
        82008,
        'All agentic applications requesting a token exchange token must include the fmipath parameter on the token request.',
      );
    }
    return undefined;
  }
  const refuse = (why: string) =>
    new EntraError(9002313, `Invalid request. Request is malformed or invalid. (fmi_path: ${why})`);
  if (!app.blueprint)
    throw refuse(`application '${app.clientId}' is not an agent identity blueprint`);
  if (!exchange)
    throw refuse(`only a token exchange token (${TOKEN_EXCHANGE_AUDIENCE}) takes an fmi_path`);
  const agent = directory.findApp(app.tenantId, fmiPath);
  if (agent?.parentBlueprint !== app.clientId) {
    throw refuse(
      `'${fmiPath.slice(0, 100)}' is not an agent identity of blueprint '${app.clientId}' in this tenant`,
    );
  }
  return { agent, subject: exchangeSubject(app.tenantId, app.clientId, agent.clientId) };
}

/** Claims of a blueprint's token exchange token (T1), besides the usual app-only ones. */
export function exchangeTokenClaims(): Record<string, unknown> {
  return { xms_act_fct: '1 9', xms_sub_fct: '1 9', xms_idrel: '7 26' };
}

/**
 * Claims of an agent identity's app-only token (leg 2): the facets of an agent identity and the
 * blueprint it acts for (`xms_par_app_azp`, the only claim naming it), as in Entra's documented
 * sample.
 */
export function agentTokenClaims(agent: AppRecord): Record<string, unknown> | undefined {
  if (agent.parentBlueprint === undefined) return undefined;
  return {
    xms_par_app_azp: agent.parentBlueprint,
    xms_act_fct: '3 9 11',
    xms_sub_fct: '9 3 11',
    xms_idrel: '7 10',
  };
}
