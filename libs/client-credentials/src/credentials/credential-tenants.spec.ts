import { CredentialTenants } from './credential-tenants';

const OWN = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER = 'a3c2b1d0-0000-4000-8000-000000000001';
/** An access token naming `claims` (unsigned: only its claims are read). */
const tokenOf = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const tenantsOf = (tenantId: string, managedIdentity = false, issuer?: string) =>
  new CredentialTenants({ name: 'app', tenantId, issuer }, managedIdentity);

describe('CredentialTenants.id: the id of the own tenant, as resources name it', () => {
  it('is the configured tenantId when that is an id (lower case)', () => {
    expect(tenantsOf(OWN.toUpperCase()).id).toBe(OWN);
  });

  it('of a verified domain: learned from the tid of a token of that tenant, and only of it', () => {
    const tenants = tenantsOf('Contoso.onmicrosoft.com');
    expect(tenants.id).toBeUndefined();
    // A token of another tenant (a multi-tenant app's) says nothing of its own.
    tenants.learnFrom(tokenOf({ tid: OTHER }), OTHER);
    expect(tenants.id).toBeUndefined();
    tenants.learnFrom(tokenOf({ tid: OWN.toUpperCase() }), 'contoso.onmicrosoft.com');
    expect(tenants.id).toBe(OWN);
    // Learned once.
    tenants.learnFrom(tokenOf({ tid: OTHER }), 'Contoso.onmicrosoft.com');
    expect(tenants.id).toBe(OWN);
    // The tenant its calls get tokens of is still the configured one (its cache key).
    expect(tenants.current).toBe('Contoso.onmicrosoft.com');
  });

  it('stays unknown for an opaque token, or a tid that is not an id', () => {
    const tenants = tenantsOf('contoso.onmicrosoft.com');
    tenants.learnFrom('opaque', 'contoso.onmicrosoft.com');
    tenants.learnFrom(tokenOf({ tid: 'contoso.onmicrosoft.com' }), 'contoso.onmicrosoft.com');
    expect(tenants.id).toBeUndefined();
    tenants.learnFrom(tokenOf({ tid: OWN }), 'contoso.onmicrosoft.com');
    expect(tenants.id).toBe(OWN);
  });

  it("a managed identity's: from its first token, whatever tenant it was asked as", () => {
    const tenants = tenantsOf('managed-identity', true);
    tenants.learnFrom(tokenOf({ tid: OWN }), OWN);
    expect(tenants.id).toBe(OWN);
    expect(tenants.current).toBe(OWN);
  });

  it('an issuer named by its URL learns none', () => {
    const tenants = tenantsOf('realm', false, 'https://issuer.example');
    tenants.learnFrom(tokenOf({ tid: OWN }), 'realm');
    expect(tenants.id).toBeUndefined();
  });
});
