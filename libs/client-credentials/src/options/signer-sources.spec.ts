import { resolveOptions } from './resolve-options';
import type { ClientCredentialsModuleOptions } from '../client-credentials.options';

const problemsOf = (options: ClientCredentialsModuleOptions): string[] => {
  try {
    resolveOptions(options);
    return [];
  } catch (e) {
    return [...(e as { problems: string[] }).problems];
  }
};
const app = { tenantId: '11111111-1111-1111-1111-111111111111', clientId: 'c' };
const vault = { sources: [{ type: 'managed-identity' as const }] };

describe('signer sources: options checked at start-up', () => {
  it('a pkcs11 source names its token, key and PIN each one way', () => {
    expect(
      problemsOf({
        credentials: {
          app: {
            ...app,
            sources: [
              {
                type: 'pkcs11',
                modulePath: '/usr/lib/softhsm/libsofthsm2.so',
                tokenLabel: 't',
                slot: 0,
                keyLabel: 'k',
                pinFile: '/p',
                pinEnv: 'PIN',
              },
            ],
          },
        },
      }),
    ).toEqual([
      'credentials.app.sources[0]: names its token by one of `tokenLabel` or `slot`',
      'credentials.app.sources[0]: takes the user PIN from one of `pinFile` (a file) or `pinEnv` (an environment variable)',
    ]);
  });

  it('a key-vault source needs a key identifier, a certificate and a configured credential', () => {
    expect(
      problemsOf({
        credentials: {
          app: {
            ...app,
            sources: [
              {
                type: 'key-vault',
                keyId: 'https://v.vault.azure.net/secrets/x',
                credential: 'nope',
              },
            ],
          },
        },
      }),
    ).toEqual([
      'credentials.app.sources[0].keyId: must be a key identifier, https://<vault>.vault.azure.net/keys/<name> or …/keys/<name>/<version>',
      "credentials.app.sources[0]: needs the key's certificate: `certificatePath` (a PEM file, e.g. az keyvault certificate download --encoding PEM) or `certificate`",
      "credentials.app.sources[0].credential: 'nope' is not a configured credential — name the credential whose tokens the vault accepts (one of: app)",
    ]);
  });

  it('refuses credentials that would wait for each other’s vault tokens', () => {
    const kv = (credential: string) => ({
      type: 'key-vault' as const,
      keyId: 'https://v.vault.azure.net/keys/k',
      credential,
      certificatePath: '/c.pem',
    });
    const problems = problemsOf({
      credentials: { a: { ...app, sources: [kv('b')] }, b: { ...app, sources: [kv('a')] }, vault },
    });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^credentials\.a\.sources\[0\]\.credential: 'b' gets its own vault tokens through 'a'/,
    );
    expect(problemsOf({ credentials: { a: { ...app, sources: [kv('vault')] }, vault } })).toEqual(
      [],
    );
  });

  it('a signer must have getCertificate and sign', () => {
    expect(
      problemsOf({
        credentials: {
          app: {
            ...app,
            sources: [{ type: 'signer', signer: { sign: () => new Uint8Array() } as never }],
          },
        },
      }),
    ).toEqual([
      'credentials.app.sources[0].signer: must be an object with getCertificate() and sign(data, algorithm, { signal })',
    ]);
  });
});
