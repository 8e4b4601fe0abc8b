import { SignerError } from './signer-error';
import { VAULT_RESOURCES, vaultTokenCredential, type CredentialTokens } from './vault-credential';

describe('vaultTokenCredential', () => {
  const asked: string[][] = [];
  /** Calls with claims and tokens forgotten, in order. */
  const events: string[] = [];
  const tokens: CredentialTokens = {
    name: 'vault',
    getAccessToken: (scopes) => {
      asked.push(scopes);
      return Promise.resolve({ token: `t${asked.length}`, expiresOnTimestamp: 1 });
    },
    getAccessTokenWithClaims: (scopes, claims, options) => {
      events.push(`claims ${claims} ${options.tenantId}`);
      return Promise.resolve({ token: 'with-claims', expiresOnTimestamp: 1 });
    },
    forgetRefusedToken: (scopes, refused, options) => {
      events.push(`forget ${refused} ${scopes.join()} ${options.tenantId} ${options.claims}`);
      return true;
    },
    tenantOf: () => 'tenant-a',
    tenantIdOf: () => undefined,
    isSingleTenant: () => false,
  };
  const credential = vaultTokenCredential(tokens);
  beforeEach(() => {
    asked.length = 0;
    events.length = 0;
  });

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

  it("a claims challenge: the token presented is forgotten, one with the claims is given; another tenant's is still refused", async () => {
    const VAULT = 'https://vault.azure.net/.default';
    const claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}';
    expect((await credential.getToken(VAULT, { tenantId: 'tenant-a' })).token).toBe('t1');
    const answer = await credential.getToken(VAULT, { tenantId: 'tenant-a', claims });
    expect(answer.token).toBe('with-claims');
    expect(events).toEqual([
      `forget t1 ${VAULT} undefined ${claims}`,
      `claims ${claims} undefined`,
    ]);
    // The claims token itself is not forgotten by the next challenge (it is not served plainly).
    await credential.getToken(VAULT, { claims });
    expect(events).toHaveLength(3);
    const error = await credential
      .getToken(VAULT, { tenantId: 'tenant-b', claims })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignerError);
    expect(events).toHaveLength(3);
    expect(asked).toHaveLength(1);
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

describe('vaultTokenCredential: the tenant of the challenge', () => {
  const VAULT = 'https://vault.azure.net/.default';
  const OWN = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const OTHER = 'a3c2b1d0-0000-4000-8000-000000000001';
  /**
   * A credential of `tenantOf`, whose tokens of its own tenant name `tid` (learned when it gets
   * one, as the token service does); `known`: learned already.
   */
  const credentialOf = (tenantOf: string, tid: string | undefined, known = false) => {
    const asked: { tenantId?: string }[] = [];
    let id = known ? tid : undefined;
    const tokens: CredentialTokens = {
      name: 'vault',
      getAccessToken: (_scopes, options) => {
        asked.push({ tenantId: options.tenantId });
        if (options.tenantId === undefined) id = tid;
        return Promise.resolve({ token: 't', expiresOnTimestamp: 1 });
      },
      getAccessTokenWithClaims: () => Promise.reject(new Error('no claims here')),
      forgetRefusedToken: () => false,
      tenantOf: () => tenantOf,
      tenantIdOf: () => id ?? (/^[0-9a-f-]{36}$/.test(tenantOf) ? tenantOf : undefined),
      isSingleTenant: () => false,
    };
    return { credential: vaultTokenCredential(tokens), asked };
  };
  const refusal = (e: unknown) => {
    expect(e).toBeInstanceOf(SignerError);
    expect((e as SignerError).transient).toBe(false);
    return (e as SignerError).message;
  };

  it('a credential of a verified domain signs with a vault of its tenant, named by id', async () => {
    const { credential, asked } = credentialOf('contoso.onmicrosoft.com', OWN);
    // Before any token: one of its own tenant, given because its tid is the challenge's.
    await expect(credential.getToken(VAULT, { tenantId: OWN })).resolves.toMatchObject({
      token: 't',
    });
    // Once known, compared at once; any case.
    await credential.getToken(VAULT, { tenantId: OWN.toUpperCase() });
    expect(asked).toEqual([{ tenantId: undefined }, { tenantId: undefined }]);
  });

  it('a vault of another tenant stays refused: before any token, after the one of its own tenant', async () => {
    const { credential, asked } = credentialOf('contoso.onmicrosoft.com', OWN);
    const message = refusal(
      await credential.getToken(VAULT, { tenantId: OTHER }).catch((e: unknown) => e),
    );
    expect(message).toBe(
      `credential: the vault's challenge names tenant '${OTHER}', not tenant 'contoso.onmicrosoft.com' (id ${OWN}) of credential 'vault' — use a vault of the credential's tenant, or a credential of the vault's`,
    );
    // The token asked was of its own tenant, never of the challenge's.
    expect(asked).toEqual([{ tenantId: undefined }]);
    refusal(await credential.getToken(VAULT, { tenantId: OTHER }).catch((e: unknown) => e));
    expect(asked).toHaveLength(1);
  });

  it('a tenant id known (configured, or learned) refuses another without asking for a token', async () => {
    for (const { credential, asked } of [
      credentialOf(OWN, OWN),
      credentialOf('contoso.onmicrosoft.com', OWN, true),
    ]) {
      refusal(await credential.getToken(VAULT, { tenantId: OTHER }).catch((e: unknown) => e));
      expect(asked).toHaveLength(0);
    }
  });

  it("a challenge naming a tenant by a domain other than the credential's is refused, no token asked", async () => {
    const { credential, asked } = credentialOf(OWN, OWN);
    refusal(
      await credential.getToken(VAULT, { tenantId: 'fabrikam.com' }).catch((e: unknown) => e),
    );
    expect(asked).toHaveLength(0);
  });

  it('tokens that name no tenant id: refused, saying so', async () => {
    const { credential } = credentialOf('contoso.onmicrosoft.com', undefined);
    const message = refusal(
      await credential.getToken(VAULT, { tenantId: OWN }).catch((e: unknown) => e),
    );
    expect(message).toContain("whose tokens do not name their tenant's id (tid)");
  });
});
