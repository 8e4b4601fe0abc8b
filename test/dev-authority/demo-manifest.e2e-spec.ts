import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { provisionDemo, startDevAuthority, type DevAuthorityManifest } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { TrustingNetworkClient } from '../support/trusting-network-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

describe('dev-authority demo provisioning and manifest', () => {
  let dir: string;
  let manifest: DevAuthorityManifest;
  let network: TrustingNetworkClient;
  let http: AuthorityHttp;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dev-authority-demo-'));
    manifest = await provisionDemo(authority, dir);
    network = new TrustingNetworkClient(await readFile(manifest.caPath, 'utf8'));
    http = new AuthorityHttp(authority);
  });

  afterAll(async () => {
    await releaseAll(network, http);
    await rm(dir, { recursive: true, force: true });
  });

  const acquire = async (clientId: string, credentials: Record<string, unknown>) => {
    const cca = new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${manifest.authorityHost}/${manifest.tenantId}`,
        knownAuthorities: [manifest.host],
        ...credentials,
      },
      system: { networkClient: network },
    });
    const result = await cca.acquireTokenByClientCredential({ scopes: [manifest.apiScope] });
    return (await http.callApi(manifest.apiUrl, result!.accessToken)).json as unknown;
  };

  it('every demo app gets a token the API accepts, from the manifest alone', async () => {
    const { secret, certificate, sniCertificate, federated } = manifest.apps;
    expect(await acquire(secret.clientId, { clientSecret: secret.secret })).toMatchObject({
      ok: true,
    });
    expect(
      await acquire(certificate.clientId, {
        clientCertificate: {
          thumbprintSha256: certificate.thumbprintSha256,
          privateKey: await readFile(certificate.privateKeyPath, 'utf8'),
        },
      }),
    ).toMatchObject({ ok: true });
    expect(
      await acquire(sniCertificate.clientId, {
        clientCertificate: {
          thumbprintSha256: sniCertificate.thumbprintSha256,
          privateKey: await readFile(sniCertificate.privateKeyPath, 'utf8'),
          x5c: await readFile(sniCertificate.chainPath, 'utf8'),
        },
      }),
    ).toMatchObject({ ok: true });
    expect(
      await acquire(federated.clientId, {
        clientAssertion: () => readFile(federated.tokenFilePath, 'utf8'),
      }),
    ).toMatchObject({ ok: true, appid: federated.clientId });
  });

  it('describes the managed identities and the control API', () => {
    expect(manifest.managedIdentity).toMatchObject({
      endpoint: authority.managedIdentity.endpoint,
      header: authority.managedIdentity.header,
      systemClientId: expect.any(String),
      userClientId: manifest.apps.managedIdentityFederated.managedIdentityClientId,
    });
    expect(manifest.controlUrl).toBe(`${manifest.authorityHost}/_control`);
  });
});
