import type { IssuedToken, SourceClient } from '../authority/source-client';
import { TokenMetrics } from '../observability/token-metrics';
import { NO_PROXY, type ResolvedCredential } from '../options/resolved-options';
import { managedIdentityName } from '../options/managed-identity-name';
import type { ManagedIdentitySourceOptions } from '../credential.options';
import { Credential } from './credential';
import { isLearnedIdentity, LearnedIdentity } from './learned-identity';

const OID_A = '11111111-1111-4111-8111-111111111111';
const OID_B = '22222222-2222-4222-8222-222222222222';
const TID = 'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA';

/** An unsigned JWT with these claims: only its payload is read. */
const jwt = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

/** What the next token request answers (read by the mocked source client). */
let mockAnswer = jwt({ oid: OID_A, tid: TID });

jest.mock('./create-source', () => ({
  createSourceClient: (): SourceClient => ({
    source: {
      type: 'managed-identity',
      id: 'managed-identity#0',
      init: async () => [],
      msalCredential: () => ({ clientSecret: 'unused' }),
      toJSON: () => ({ type: 'managed-identity' }),
    },
    acquire: async (): Promise<IssuedToken> => ({
      token: mockAnswer,
      tokenType: 'Bearer',
      expiresOn: Date.now() + 3_600_000,
    }),
  }),
}));
jest.mock('../authority/msal-network', () => ({
  AuthorityNetworkClient: class {
    close = () => Promise.resolve();
  },
}));

const silent = { log() {}, warn() {}, debug() {}, error() {} };

function managedIdentity(source: ManagedIdentitySourceOptions): Credential {
  const sources = [source];
  const resolved: ResolvedCredential = {
    name: 'mi',
    tenantId: 'managed-identity',
    clientId: managedIdentityName(sources),
    authorityHost: 'https://login.microsoftonline.com',
    protocol: 'entra',
    sources,
    proxy: NO_PROXY,
  };
  const timings = { requestMs: 1, managedIdentityMs: 1, sourceCoolDownMs: 1, maxRetryAfterMs: 1 };
  return new Credential(resolved, timings, 'p:', new TokenMetrics(), silent);
}

describe('LearnedIdentity (a managed identity its configuration does not name)', () => {
  beforeEach(() => (mockAnswer = jwt({ oid: OID_A, tid: TID })));

  it('applies to a system-assigned identity, not to a user-assigned one (its configuration names it)', () => {
    expect(isLearnedIdentity([{ type: 'managed-identity' }])).toBe(true);
    expect(isLearnedIdentity([{ type: 'managed-identity', resourceId: '/subs/x' }])).toBe(false);
    expect(isLearnedIdentity([{ type: 'managed-identity', objectId: OID_A }])).toBe(false);
    expect(isLearnedIdentity([{ type: 'managed-identity', clientId: 'c' }])).toBe(false);
    expect(isLearnedIdentity([{ type: 'secret' }])).toBe(false);
  });

  it('names the oid and tid of a token, lower case; nothing for a token without an oid', () => {
    const identity = new LearnedIdentity();
    expect(identity.subject).toBeUndefined();
    identity.learnFrom(jwt({ oid: OID_A.toUpperCase(), tid: TID }));
    expect(identity.subject).toBe(`oid=${OID_A};tid=${TID.toLowerCase()}`);
    identity.learnFrom('opaque-token');
    expect(identity.subject).toBeUndefined();
  });

  it('a system-assigned identity has no store key until a token of its own, then keys naming it', async () => {
    const credential = managedIdentity({ type: 'managed-identity' });
    expect(credential.storeKeys('managed-identity', 's')).toEqual([]);
    expect(credential.subject).toBeUndefined();

    // A token adopted from a store (another host's, under a colliding key) teaches nothing.
    credential.recordSuccess('managed-identity', Date.now() + 60_000, jwt({ oid: OID_B }));
    expect(credential.storeKeys('managed-identity', 's')).toEqual([]);

    await credential.fetch('managed-identity', ['s']);
    const subject = `oid=${OID_A};tid=${TID.toLowerCase()}`;
    expect(credential.subject).toBe(subject);
    expect(credential.storeKeys('managed-identity', 's')).toEqual([
      `p:https://login.microsoftonline.com|managed-identity|managed-identity:system;${subject}|mi/managed-identity#0|s`,
    ]);
    // Its tenant is its own token's, not the other host's.
    expect(credential.tenants.current).toBe(TID.toLowerCase());

    // A host whose identity was replaced names the new one from its next token on.
    mockAnswer = jwt({ oid: OID_B, tid: TID });
    await credential.fetch('managed-identity', ['s']);
    expect(credential.subject).toBe(`oid=${OID_B};tid=${TID.toLowerCase()}`);
    await credential.close();
  });

  it('an identity whose tokens name no oid never gets a store key', async () => {
    mockAnswer = 'opaque-token';
    const credential = managedIdentity({ type: 'managed-identity' });
    await credential.fetch('managed-identity', ['s']);
    expect(credential.storeKeys('managed-identity', 's')).toEqual([]);
    await credential.close();
  });

  it('a user-assigned identity named by its clientId keeps the keys its configuration gives it', async () => {
    const credential = managedIdentity({ type: 'managed-identity', clientId: 'uami' });
    const keys = [
      'p:https://login.microsoftonline.com|managed-identity|managed-identity:uami|mi/managed-identity#0|s',
    ];
    expect(credential.storeKeys('managed-identity', 's')).toEqual(keys);
    await credential.fetch('managed-identity', ['s']);
    expect(credential.storeKeys('managed-identity', 's')).toEqual(keys);
    expect(credential.subject).toBeUndefined();
    await credential.close();
  });
});
