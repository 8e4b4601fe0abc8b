import type { DevAuthority } from '@app/dev-authority';
import type { ClientCredentialsModuleOptions, SharedCacheOptions } from '@app/client-credentials';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

/** An app registration of a fresh tenant, as the credential of a shared-cache replica. */
export interface Registration {
  tenantId: string;
  clientId: string;
  secret: string;
}

export function register(authority: DevAuthority): Registration {
  const tenant = authority.createTenant();
  const app = tenant.createApp();
  return { tenantId: tenant.tenantId, clientId: app.clientId, secret: app.addSecret() };
}

/** One replica in this process: its own memory, the shared Redis; `extra` options on top. */
export function startReplica(
  authority: DevAuthority,
  reg: Registration,
  shared: SharedCacheOptions,
  extra: Omit<ClientCredentialsModuleOptions, 'credentials' | 'cache'> = {},
): Promise<TokenApp> {
  return startTokenApp({
    credentials: {
      api: localCredential(authority, reg.tenantId, reg.clientId, [
        { type: 'secret', secret: reg.secret },
      ]),
    },
    cache: { shared },
    ...extra,
  });
}

/** Polls `check` every 20 ms, at most `tries` times; resolves to whether it became true. */
export async function eventually(check: () => boolean, tries = 250): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
