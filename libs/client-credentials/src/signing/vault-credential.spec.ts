import { SignerError } from './signer-error';
import { VAULT_RESOURCES, vaultTokenCredential, type CredentialTokens } from './vault-credential';

describe('vaultTokenCredential', () => {
  const asked: string[][] = [];
  const tokens: CredentialTokens = {
    name: 'vault',
    getAccessToken: (scopes) => {
      asked.push(scopes);
      return Promise.resolve({ token: 't', expiresOnTimestamp: 1 });
    },
    tenantOf: () => 'tenant-a',
    isSingleTenant: () => false,
  };
  const credential = vaultTokenCredential(tokens);
  beforeEach(() => (asked.length = 0));

  it('gives tokens of Key Vault and Managed HSM in every cloud, as a challenge names them', async () => {
    for (const resource of VAULT_RESOURCES) {
      await credential.getToken(`${resource}/.default`);
      await credential.getToken([resource.toUpperCase()]);
    }
    await credential.getToken('https://vault.azure.net/');
    expect(asked).toHaveLength(VAULT_RESOURCES.length * 2 + 1);
  });

  it.each([
    'api://demo-api/.default',
    'https://graph.microsoft.com/.default',
    'https://management.azure.com/.default',
    'https://vault.azure.net.evil.example/.default',
    'https://evil.vault.azure.net/.default',
    'http://vault.azure.net/.default',
  ])('refuses a token of %s: signer_failed naming it, no token asked', async (scope) => {
    const error = await credential
      .getToken(['https://vault.azure.net/.default', scope])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignerError);
    expect((error as SignerError).message).toContain(`'${scope}'`);
    expect((error as SignerError).message).toMatch(/^keyId: /);
    expect((error as SignerError).transient).toBe(false);
    expect(asked).toHaveLength(0);
  });

  it('shows a hostile resource printable and bounded', async () => {
    const error = (await credential
      .getToken(`https://x\n[Nest] LOG admin\u001b[2K${'a'.repeat(500)}/.default`)
      .catch((e: unknown) => e)) as SignerError;
    expect(error.message).not.toContain('\n');
    expect(error.message).not.toContain('\u001b');
    expect(error.message.length).toBeLessThan(600);
  });
});
