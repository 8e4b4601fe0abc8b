import { generateKeyPair, SignJWT } from 'jose';
import type { IncomingMessage } from 'node:http';
import type { CryptoKey } from './crypto-types';
import type { RequestContext } from './http';
import { handleApiData, REQUIRED_ROLE, type ProtectedApiDeps } from './protected-api';
import { Revocations } from './revocation';
import { TokenIssuer } from './token-issuer';

const ORIGIN = 'https://127.0.0.1:1';
const TENANT = 'tenant-1';
const AUDIENCE = 'api://demo';

describe('the demo API (handleApiData)', () => {
  let issuer: TokenIssuer;
  let signingKey: CryptoKey;
  let deps: ProtectedApiDeps;
  let now: Date;

  beforeAll(async () => {
    const keys = await generateKeyPair('RS256');
    signingKey = keys.privateKey;
    issuer = await TokenIssuer.create(keys, ORIGIN);
  });
  beforeEach(() => {
    now = new Date();
    deps = {
      issuer,
      audiences: [AUDIENCE],
      isTenant: (t) => t === TENANT,
      revocations: new Revocations(),
    };
  });

  function sign(key: CryptoKey, lifetimeSeconds = 600): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: TENANT, azp: 'app-1', roles: [REQUIRED_ROLE] })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(issuer.issuer(TENANT))
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + lifetimeSeconds)
      .sign(key);
  }

  function call(token: string) {
    const ctx = {
      req: { headers: { authorization: `Bearer ${token}` } } as IncomingMessage,
      url: new URL(`${ORIGIN}/api/data`),
      params: {},
      now: () => now,
      log: {},
      body: async () => '',
    } satisfies RequestContext;
    return handleApiData(ctx, deps);
  }

  it('accepts a token signed by its key, again and again', async () => {
    const token = await sign(signingKey);
    for (let i = 0; i < 3; i++) expect((await call(token)).status).toBe(200);
  });

  it('refuses a token signed by another key on every call, not only the first', async () => {
    const other = await generateKeyPair('RS256');
    const forged = await sign(other.privateKey);
    for (let i = 0; i < 3; i++) {
      const reply = await call(forged);
      expect(reply.status).toBe(401);
      expect(reply.json).toMatchObject({ error_description: 'the token signature is invalid' });
    }
  });

  it('still checks the lifetime and revocations of a token whose signature it has seen', async () => {
    const token = await sign(signingKey, 60);
    expect((await call(token)).status).toBe(200);
    now = new Date(now.getTime() + 61_000);
    expect((await call(token)).status).toBe(401);
    now = new Date();
    deps.revocations.revoke(TENANT, 'app-1', new Date(now.getTime() + 1000), 'invalid_token');
    expect((await call(token)).status).toBe(401);
  });
});
