import { access, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { startDevAuthority, type DevAuthority, type ManagedIdentity } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localManagedIdentity, startTokenApp, type TokenApp } from '../support/token-app';

/**
 * msal-node reads the Arc agent's key file only from the agent's own folder on Linux. The test
 * writes its challenge files there (and removes them, and the folder if it made it): it needs
 * write access to it, as root in CI has.
 */
const ARC_TOKENS = '/var/opt/azcmagent/tokens';

async function writable(dir: string): Promise<{ ok: boolean; created: boolean }> {
  try {
    await access(dir, constants.W_OK);
    return { ok: true, created: false };
  } catch {
    try {
      await mkdir(dir, { recursive: true });
      return { ok: true, created: true };
    } catch {
      return { ok: false, created: false };
    }
  }
}

let folder: { ok: boolean; created: boolean } | undefined;

/** The local authority writing its Arc key files to the agent's folder, once it can. */
async function startArcAuthority(): Promise<DevAuthority> {
  folder = await writable(ARC_TOKENS);
  if (!folder.ok) throw new Error(`this suite needs write access to ${ARC_TOKENS} (run as root)`);
  return startDevAuthority({ arcKeyDirectory: ARC_TOKENS });
}

const [authority] = useFixtures(startArcAuthority);
afterAll(async () => {
  // After the authority closed (jest runs top-level afterAll hooks in order).
  if (folder?.created) {
    await rm(ARC_TOKENS, { recursive: true, force: true });
    // The parent too, when this suite made it (rmdir refuses a folder that is not empty).
    await rmdir('/var/opt/azcmagent').catch(() => undefined);
  }
});

/**
 * The managed identity source on an Azure Arc-enabled server: `IDENTITY_ENDPOINT` and
 * `IMDS_ENDPOINT` send msal-node to the Arc agent, which answers the first request with a 401
 * naming a key file; msal reads it and asks again with its content. Own jest worker: msal picks
 * its source once per process.
 */
describe('Managed identity on an Azure Arc-enabled server', () => {
  let http: AuthorityHttp;
  let app: TokenApp | undefined;
  let system: ManagedIdentity;
  const env = { ...process.env };

  beforeAll(() => {
    http = new AuthorityHttp(authority);
    Object.assign(process.env, authority.arc.environment);
    system = authority.createManagedIdentity({
      tenantId: authority.createTenant().tenantId,
      kind: 'system',
    });
  });
  afterAll(async () => {
    process.env = env;
    await releaseAll(app, http);
  });

  it('the challenge, then the key file: a system-assigned token the API accepts; stats say azure-arc', async () => {
    app = await startTokenApp({
      credentials: {
        arc: localManagedIdentity(authority),
      },
    });
    const token = await app.tokens.getAccessToken(authority.apiScope);
    const api = await http.callApi(authority.apiUrl, token.token);
    expect(api.status).toBe(200);
    expect(api.json.appid).toBe(system.clientId);
    expect(authority.log.filter((e) => e.target === 'arc').map((e) => e.status)).toEqual([
      401, 200,
    ]);
    expect(app.tokens.getStats('arc').managedIdentityHost).toBe('azure-arc');
    // The key was used once and removed.
    expect((await readdir(ARC_TOKENS)).filter((f) => f.endsWith('.key'))).toEqual([]);
  });

  it('a key file content the agent did not issue is refused', async () => {
    const answer = await http.get(
      `${authority.arc.identityEndpoint}?api-version=2020-06-01&resource=api://dev-api`,
      { metadata: 'true', authorization: 'Basic not-a-key' },
    );
    expect(answer.status).toBe(401);
  });
});
