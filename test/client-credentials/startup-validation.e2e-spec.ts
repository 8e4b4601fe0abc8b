import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAuthority } from '@app/dev-authority';
import { ClientCredentialsModuleOptions, ConfigurationError } from '@app/client-credentials';
import { useFixtures } from '../support/fixtures';
import { startTokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/** A bad option fails app.init() with one message that names the field and the fix. */
describe('TokenService: startup validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-startup-'));

  const TENANT = '11111111-2222-3333-4444-555555555555';
  const withSource = (source: unknown, extra: object = {}): ClientCredentialsModuleOptions =>
    ({
      credentials: {
        graph: {
          tenantId: TENANT,
          clientId: 'client',
          authorityHost: 'https://127.0.0.1:9',
          sources: [source],
          ...extra,
        },
      },
    }) as ClientCredentialsModuleOptions;

  async function initError(options: ClientCredentialsModuleOptions): Promise<ConfigurationError> {
    const error = await startTokenApp(options).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }

  it('names a missing certificate file', async () => {
    const path = join(dir, 'missing.pem');
    const e = await initError(withSource({ type: 'certificate', certificatePath: path }));
    expect(e.problems).toEqual([
      `credentials.graph.sources[0].certificatePath: cannot read '${path}' (ENOENT) — point it at a readable PEM file holding the certificate and its private key`,
    ]);
    expect(e.message).toBe(
      `Invalid ClientCredentialsModule options:\n  - ${e.problems[0]}\n Hint: Correct the named fields in the options the message names: the forRoot()/forRootAsync() options of ClientCredentialsModule or DownstreamApiModule, or the integration's.`,
    );
  });

  it('names a directory given as the certificate file', async () => {
    const e = await initError(withSource({ type: 'certificate', certificatePath: dir }));
    expect(e.problems).toEqual([
      `credentials.graph.sources[0].certificatePath: cannot read '${dir}' (EISDIR) — point it at a readable PEM file holding the certificate and its private key`,
    ]);
  });

  it('names a key that does not belong to the certificate, without showing either', async () => {
    const app = authority.createTenant().createApp();
    const a = await app.addCertificate();
    const b = await app.addCertificate();
    const path = join(dir, 'mismatch.pem');
    writeFileSync(path, `${a.certificatePem}\n${b.privateKeyPem}`);
    const e = await initError(withSource({ type: 'certificate', certificatePath: path }));
    expect(e.problems).toEqual([
      'credentials.graph.sources[0].certificatePath: the private key does not belong to the certificate — pair the certificate with its own key',
    ]);
    expect(e.message).not.toContain('PRIVATE KEY');
  });

  it('names a file without a private key', async () => {
    const cert = await authority.createTenant().createApp().addCertificate();
    const path = join(dir, 'cert-only.pem');
    writeFileSync(path, cert.certificatePem);
    const e = await initError(withSource({ type: 'certificate', certificatePath: path }));
    expect(e.problems).toEqual([
      'credentials.graph.sources[0].certificatePath: no PEM private key found — add the private key (PKCS#8 or PKCS#1) to the file or set privateKey',
    ]);
  });

  it.each([
    [
      { ...withSource({ type: 'secret', secret: 's' }), defaultCredential: 'mail' },
      "defaultCredential: 'mail' is not a configured credential — use one of: graph",
    ],
    [
      withSource({ type: 'secret', secret: 's' }, { tenantId: 'common' }),
      "credentials.graph.tenantId: 'common' is a meta-tenant — client credentials need the directory (tenant) ID GUID or a verified domain",
    ],
    [
      withSource({ type: 'secret', secret: 's' }, { authorityHost: 'http://127.0.0.1:1' }),
      'credentials.graph.authorityHost: must be an https URL without query or credentials, e.g. https://login.microsoftonline.com',
    ],
    [
      withSource({ type: 'secret', secret: 's' }, { clientId: '' }),
      'credentials.graph.clientId: must not be empty — set the application (client) ID',
    ],
  ])('fails init for %#', async (options, problem) => {
    const e = await initError(options);
    expect(e.problems).toEqual([problem]);
  });
});
