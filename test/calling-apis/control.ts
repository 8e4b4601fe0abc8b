import { Agent, request } from 'undici';
import type { DevAuthority } from '@app/dev-authority';

/**
 * Revokes the tokens an app was issued so far, through the local authority's control API (as a
 * standalone authority would be driven); resolves to the instant (epoch s) tokens must follow.
 */
export async function revokeTokens(
  authority: DevAuthority,
  tenantId: string,
  clientId: string,
  challenge: 'insufficient_claims' | 'invalid_token' = 'insufficient_claims',
): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: authority.caPem } });
  try {
    const res = await request(
      `${authority.control.url}/tenants/${tenantId}/apps/${clientId}/revoke`,
      {
        method: 'POST',
        headers: { 'x-control-token': authority.control.token, 'content-type': 'application/json' },
        body: JSON.stringify({ challenge }),
        dispatcher,
      },
    );
    const body = (await res.body.json()) as { revokedBefore?: number; error?: string };
    if (res.statusCode !== 200 || body.revokedBefore === undefined) {
      throw new Error(`revoke failed: ${res.statusCode} ${body.error ?? ''}`);
    }
    return body.revokedBefore;
  } finally {
    await dispatcher.close();
  }
}

/** The payload of a JWT, for asserting what the authority issued (never verified here). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<
    string,
    unknown
  >;
}
