import type { ManagedIdentityIdParams } from '@azure/msal-node';
import type { ManagedIdentitySourceOptions } from '../credential.options';

/** msal's id parameters for a system- (none) or user-assigned identity. */
export function managedIdentityId(
  o: Pick<ManagedIdentitySourceOptions, 'clientId' | 'resourceId' | 'objectId'>,
): ManagedIdentityIdParams | undefined {
  if (o.clientId) return { userAssignedClientId: o.clientId };
  if (o.resourceId) return { userAssignedResourceId: o.resourceId };
  if (o.objectId) return { userAssignedObjectId: o.objectId };
  return undefined;
}

/** The client id a credential made of managed identity sources is known by (in cache keys and logs). */
export function managedIdentityName(sources: readonly { type: string }[]): string {
  const s = sources[0] as { clientId?: string; resourceId?: string; objectId?: string };
  return `managed-identity:${s.clientId ?? s.resourceId ?? s.objectId ?? 'system'}`;
}
