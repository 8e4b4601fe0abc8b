import { ConfigurationError } from '../errors/client-credentials.errors';
import type { CredentialOptions } from '../credential.options';
import { entraMtlsOrigin } from './mtls.schema';
import { resolveOptions } from './resolve-options';

const TENANT = '11111111-2222-3333-4444-555555555555';
const SNI = { type: 'certificate' as const, certificatePath: '/etc/app/sni.pem', sendX5c: true };

function resolve(credential: Partial<CredentialOptions>) {
  return resolveOptions({
    credentials: {
      a: { tenantId: TENANT, clientId: 'client', sources: [SNI], ...credential },
    },
  });
}

function problems(credential: Partial<CredentialOptions>): readonly string[] {
  try {
    resolve(credential);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return (e as ConfigurationError).problems;
  }
  return [];
}

describe("Entra ID's mTLS token endpoint", () => {
  it.each([
    ['https://login.microsoftonline.com', {}, 'https://mtlsauth.microsoft.com'],
    [
      'https://login.microsoft.com',
      { region: 'WestEurope' },
      'https://westeurope.mtlsauth.microsoft.com',
    ],
    ['https://login.microsoftonline.us', {}, 'https://mtlsauth.microsoftonline.us'],
    [
      'https://login.microsoftonline.us',
      { region: 'usgovvirginia' },
      'https://usgovvirginia.mtlsauth.microsoftonline.us',
    ],
    [
      'https://127.0.0.1:8443',
      { authorityHost: 'https://127.0.0.1:9443/' },
      'https://127.0.0.1:9443',
    ],
  ])('of %s %j is %s, as MSAL .NET derives it', (host, options, origin) => {
    expect(entraMtlsOrigin(host, options)).toEqual({ origin });
  });

  it('is refused where Entra has none, or cannot be derived, naming the fix', () => {
    expect(entraMtlsOrigin('https://login.usgovcloudapi.net', {})).toEqual({
      path: ['authorityHost'],
      problem: expect.stringMatching(/login\.microsoftonline\.us/),
    });
    expect(entraMtlsOrigin('https://login.chinacloudapi.cn', {})).toEqual({
      path: ['authorityHost'],
      problem: expect.stringMatching(/'https:\/\/login\.partner\.microsoftonline\.cn'/),
    });
    expect(entraMtlsOrigin('https://login.partner.microsoftonline.cn', {})).toEqual({
      origin: 'https://mtlsauth.partner.microsoftonline.cn',
    });
    expect(entraMtlsOrigin('https://sts.contoso.test', {})).toEqual({
      path: ['mtls'],
      problem: expect.stringMatching(/set mtls: \{ authorityHost/),
    });
  });
});

describe('the mtls option', () => {
  it('resolves where tokens are requested: Entra mTLS PoP, or the issuer discovery says', () => {
    expect(resolve({ mtls: true }).credentials.get('a')?.mtls).toEqual({
      entraOrigin: 'https://mtlsauth.microsoft.com',
    });
    expect(resolve({ mtls: { region: 'eastus2' } }).credentials.get('a')?.mtls?.entraOrigin).toBe(
      'https://eastus2.mtlsauth.microsoft.com',
    );
    const oidc = resolve({
      protocol: 'oidc',
      authorityHost: 'https://idp.example',
      sources: [{ type: 'certificate', certificatePath: '/etc/app/cert.pem' }],
      mtls: true,
    });
    expect(oidc.credentials.get('a')?.mtls).toEqual({});
    expect(resolve({ mtls: false }).credentials.get('a')?.mtls).toBeUndefined();
  });

  it('is validated at start-up, each problem naming its field and the fix', () => {
    expect(problems({ mtls: true, sources: [{ type: 'secret', secret: 's' }] })).toEqual([
      expect.stringMatching(
        /^credentials\.a\.sources\[0\]: is a 'secret' source: .*only a certificate/,
      ),
    ]);
    expect(
      problems({ mtls: true, sources: [{ type: 'certificate', certificatePath: '/x.pem' }] }),
    ).toEqual([
      expect.stringMatching(/^credentials\.a\.sources\[0\]\.sendX5c: must be true .*SN\+I/),
    ]);
    expect(
      problems({
        protocol: 'oidc',
        authorityHost: 'https://idp.example',
        dpop: true,
        mtls: { region: 'westeurope' },
      }),
    ).toEqual([
      expect.stringMatching(/^credentials\.a\.mtls: takes one binding/),
      expect.stringMatching(
        /^credentials\.a\.mtls\.region: is for Entra ID.*mtls_endpoint_aliases/,
      ),
    ]);
    expect(problems({ mtls: { region: 'west europe' } })).toEqual([
      expect.stringMatching(/^credentials\.a\.mtls.*region's short name/),
    ]);
    expect(
      problems({ mtls: { region: 'westeurope', authorityHost: 'https://mtls.example' } }),
    ).toEqual([expect.stringMatching(/^credentials\.a\.mtls\.region: takes `region` or/)]);
    expect(problems({ mtls: true, agentBlueprint: true })).toEqual([
      expect.stringMatching(/^credentials\.a\.mtls: cannot bind an agent identity blueprint/),
    ]);
    expect(problems({ authorityHost: 'https://127.0.0.1:8443', mtls: true })).toEqual([
      expect.stringMatching(/^credentials\.a\.mtls: cannot derive .*127\.0\.0\.1:8443/),
    ]);
    expect(
      problems({
        tenantId: undefined,
        clientId: undefined,
        sources: [{ type: 'managed-identity' }],
        mtls: true,
      }),
    ).toEqual([
      expect.stringMatching(/^credentials\.a\.mtls: cannot bind managed identity tokens/),
    ]);
  });
});
