import type { ManagedIdentityIdParams, NetworkResponse } from '@azure/msal-node';
import { createHash } from 'node:crypto';
import { AuthorityFailure } from '../errors/authority-failure';
import { sleep } from '../timing/backoff';

/**
 * Where a managed identity's tokens come from, as msal-node detects it from the environment (once
 * per process): App Service / Functions / Container Apps (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`),
 * Service Fabric (plus `IDENTITY_SERVER_THUMBPRINT`), Azure ML (`MSI_ENDPOINT` + `MSI_SECRET`),
 * Cloud Shell (`MSI_ENDPOINT`), Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the agent
 * installed), else IMDS (VMs, scale sets, AKS nodes; `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves it).
 */
export type ManagedIdentityHost =
  'app-service' | 'service-fabric' | 'machine-learning' | 'cloud-shell' | 'azure-arc' | 'imds';

/** msal-node's source names (`ManagedIdentitySourceNames`) by host. */
const MSAL_SOURCES: Record<string, ManagedIdentityHost> = {
  AppService: 'app-service',
  ServiceFabric: 'service-fabric',
  MachineLearning: 'machine-learning',
  CloudShell: 'cloud-shell',
  AzureArc: 'azure-arc',
  Imds: 'imds',
  DefaultToImds: 'imds',
};

/** Our name of an msal-node managed identity source; IMDS for any name msal adds later. */
export function hostOf(msalSource: string): ManagedIdentityHost {
  return MSAL_SOURCES[msalSource] ?? 'imds';
}

/**
 * Hosts whose endpoint caches the tokens it hands out and answers a new request with the cached one
 * until near its expiry — a revoked token included — unless the request names that token by its
 * SHA-256 (`token_sha256_to_refresh`): then it gets a new one from Entra. The "MSI v1 token
 * revocation" protocol of MSAL (msal-node sends it for Service Fabric only, MSAL Go for both).
 * IMDS, Arc, Cloud Shell and Azure ML have no such parameter: there a replacement is an ordinary
 * request.
 */
export const TOKEN_REFRESH_HOSTS: ReadonlySet<ManagedIdentityHost> = new Set([
  'app-service',
  'service-fabric',
]);

/** A token's name in `token_sha256_to_refresh`: the lower-case hex SHA-256 of its UTF-8 text. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * `url` (a managed identity GET, as msal-node built it) asking for a new token in place of the
 * one whose SHA-256 is `sha256`, with the client capabilities (`xms_cc=cp1,...`) that go with it.
 */
export function refreshingUrl(
  url: string,
  sha256: string,
  capabilities: readonly string[],
): string {
  const extra = new URLSearchParams({ token_sha256_to_refresh: sha256 });
  if (capabilities.length > 0) extra.set('xms_cc', capabilities.join(','));
  return `${url}${url.includes('?') ? '&' : '?'}${extra.toString()}`;
}

/** What an identity is assigned to, by host, for messages. */
export const HOST_NOUNS: Record<ManagedIdentityHost, string> = {
  'app-service': 'App Service, Function App or Container App',
  'service-fabric': 'Service Fabric application',
  'machine-learning': 'Azure Machine Learning compute',
  'cloud-shell': 'Cloud Shell session',
  'azure-arc': 'Arc-enabled server',
  imds: 'VM, scale set or AKS node pool',
};

/**
 * How a managed identity endpoint says the identity asked for is not assigned to the host: IMDS
 * `400 {"error":"invalid_request","error_description":"Identity not found"}`;
 * App Service, Functions and Container Apps `400 {"statusCode":400,"message":"Unable to load the
 * proper Managed Identity.","correlationId":…}` — for a client id it does not have, and for a
 * system-assigned identity the app lacks (answers quoted in Azure/azure-sdk-for-net#43691,
 * microsoft/azure-container-apps#442, AzureAD/microsoft-authentication-library-for-dotnet#5263).
 */
export const UNASSIGNED_IDENTITY = /identity not found|unable to load the proper managed identity/i;

/** The identity in words, for messages: which one to assign to the host. */
export function describeIdentity(id: ManagedIdentityIdParams | undefined): string {
  if (id?.userAssignedClientId)
    return `the user-assigned identity with client id ${id.userAssignedClientId}`;
  if (id?.userAssignedResourceId) return `the user-assigned identity ${id.userAssignedResourceId}`;
  if (id?.userAssignedObjectId)
    return `the user-assigned identity with object id ${id.userAssignedObjectId}`;
  return 'a system-assigned identity';
}

/**
 * How long IMDS may answer `410 Gone` during host maintenance: Azure documents that it is back
 * within 70 s, and that clients are to keep retrying until then.
 */
export const IMDS_MAINTENANCE_MS = 70_000;

/**
 * Between two requests during IMDS maintenance. msal-node waits 10 s (7 times); a second lets a
 * waiting caller have its token about a second after IMDS is back, at ~1 request per second to a
 * host-local endpoint (IMDS allows 20 per second).
 */
const MAINTENANCE_RETRY_MS = 1_000;

/**
 * Sends an IMDS request again while IMDS answers 410, for up to {@link IMDS_MAINTENANCE_MS} from
 * the first 410, past the ordinary attempt counts (the library's `retry.maxAttempts`, msal's 3):
 * the 410 is the one answer of IMDS that says "this will work soon". Other answers are returned
 * as they are (msal retries a 404 or 408 itself, a non-JSON one under a stand-in body; our
 * network client reports 429 and 5xx, which the token path retries with backoff). After the window it fails as a transient endpoint failure, so msal
 * never starts its own 70 s of 410 retries on top.
 */
export async function throughMaintenance<T>(
  send: () => Promise<NetworkResponse<T>>,
  stop: AbortSignal,
): Promise<NetworkResponse<T>> {
  let since: number | undefined;
  for (;;) {
    const response = await send();
    if (response.status !== 410) return response;
    since ??= Date.now();
    if (Date.now() - since >= IMDS_MAINTENANCE_MS) {
      throw new AuthorityFailure(
        'endpoint_unavailable',
        { status: 410 },
        `IMDS answered 410 (host maintenance) for more than ${IMDS_MAINTENANCE_MS / 1000} s`,
      );
    }
    // ±20 % so that the processes of one VM do not come back in step.
    await sleep(MAINTENANCE_RETRY_MS * (0.8 + Math.random() * 0.4), stop);
  }
}
