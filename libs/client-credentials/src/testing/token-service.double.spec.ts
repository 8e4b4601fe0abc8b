// The examples of docs/testing.md, run as they are written there.
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ClientCredentialsError, TokenEndpointError, TokenService } from '@app/client-credentials';
import {
  ClientCredentialsTestingModule,
  TokenServiceDouble,
} from '@app/client-credentials/testing';

@Injectable()
class SyncJob {
  constructor(private readonly tokens: TokenService) {}
  run(): Promise<string> {
    return this.tokens.getAuthorizationHeader('api://orders/.default');
  }
}

describe('docs/testing.md: TokenServiceDouble', () => {
  it('answers scripted tokens and failures with the real error types, and records the calls', async () => {
    const tokens = new TokenServiceDouble().willAnswer(
      't1',
      new TokenEndpointError('endpoint_unavailable', 'The authority is down.', {}, true),
    );
    const moduleRef = await Test.createTestingModule({
      imports: [ClientCredentialsTestingModule.forRoot(tokens)],
      providers: [SyncJob],
    }).compile();
    const job = moduleRef.get(SyncJob);

    await expect(job.run()).resolves.toBe('Bearer t1');
    await expect(job.run()).rejects.toMatchObject({
      code: 'endpoint_unavailable',
      transient: true,
    });
    await expect(job.run()).resolves.toBe('Bearer test-access-token');
    expect(tokens.calls.map((c) => c.outcome)).toEqual([
      { token: 't1' },
      { error: 'endpoint_unavailable' },
      { token: 'test-access-token' },
    ]);
    expect(tokens.getStats().failures).toEqual({ endpoint_unavailable: 1 });
  });

  it('refuses a credential it does not know, as the real service does', async () => {
    const tokens = new TokenServiceDouble({ credentials: ['orders'], defaultCredential: 'orders' });
    await expect(
      tokens.getAccessToken('api://x/.default', { credential: 'billing' }),
    ).rejects.toMatchObject({ code: 'credential_unknown' });
  });
});

/** Nest's lifecycle hooks of the real service: a double has nothing to load or close. */
type Lifecycle = 'onModuleInit' | 'onApplicationBootstrap' | 'onApplicationShutdown';

/**
 * Compile-time: the double has every public member of `TokenService`, each of a type the real
 * one's callers accept. A member added to TokenService, or one whose signature changes, fails
 * `tsc` here until the double follows.
 */
const inStep: Omit<TokenService, Lifecycle> = new TokenServiceDouble();
/** And the other way: the double's members of the same name are TokenService's. */
type Extra = Exclude<keyof Omit<TokenService, Lifecycle>, keyof TokenServiceDouble>;
const noneMissing: [Extra] extends [never] ? true : Extra = true;

describe('TokenServiceDouble: in step with TokenService', () => {
  it('has every public member of TokenService but its lifecycle hooks (checked by tsc above)', () => {
    expect(noneMissing).toBe(true);
    for (const method of [
      'replaceRefusedToken',
      'forgetRefusedToken',
      'getAccessTokenWithClaims',
    ]) {
      expect(typeof inStep[method as keyof typeof inStep]).toBe('function');
    }
  });
});

describe('TokenServiceDouble: the methods the calling integrations use after a 401', () => {
  it('replaceRefusedToken answers the next scripted token, recorded with its kind', async () => {
    const tokens = new TokenServiceDouble().willAnswer('revoked', 'fresh');
    const refused = await tokens.getAccessToken('api://a/.default');

    const replacement = await tokens.replaceRefusedToken('api://a/.default', refused.token);

    expect(replacement?.token).toBe('fresh');
    expect(tokens.calls.map((c) => [c.kind, c.refused, c.outcome])).toEqual([
      ['token', undefined, { token: 'revoked' }],
      ['replace', 'revoked', { token: 'fresh' }],
    ]);
    expect(tokens.getStats().tokenRequests).toBe(2);
  });

  it('a replacement is never the refused token: undefined, the caller keeps the 401', async () => {
    const tokens = new TokenServiceDouble();
    const refused = await tokens.getAccessToken('api://a/.default');

    await expect(
      tokens.replaceRefusedToken('api://a/.default', refused.token),
    ).resolves.toBeUndefined();
    expect(tokens.calls[1]).toMatchObject({ kind: 'replace', outcome: { none: true } });
  });

  it('a replacement refused again within the hold-off is not replaced, the hold-off doubling per refusal in a row', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const api = 'api://a/.default';
      const tokens = new TokenServiceDouble().willAnswer('t1', 't2', 't3', 't4');
      const t1 = await tokens.getAccessToken(api);
      const t2 = await tokens.replaceRefusedToken(api, t1.token);
      await expect(tokens.replaceRefusedToken(api, t2!.token)).resolves.toBeUndefined();
      expect(tokens.forgetRefusedToken(api, t2!.token)).toBe(false);
      jest.advanceTimersByTime(10_000);
      const t3 = await tokens.replaceRefusedToken(api, t2!.token);
      // The second refusal in a row: 20 s.
      jest.advanceTimersByTime(19_999);
      await expect(tokens.replaceRefusedToken(api, t3!.token)).resolves.toBeUndefined();
      jest.advanceTimersByTime(1);
      await expect(tokens.replaceRefusedToken(api, t3!.token)).resolves.toMatchObject({
        token: 't4',
      });
      // Another key has no hold-off of its own.
      await expect(tokens.replaceRefusedToken('api://b/.default', 't4')).resolves.toBeDefined();
      expect(tokens.calls.map((c) => [c.kind, c.outcome])).toEqual([
        ['token', { token: 't1' }],
        ['replace', { token: 't2' }],
        ['replace', { none: true }],
        ['forget', { none: true }],
        ['replace', { token: 't3' }],
        ['replace', { none: true }],
        ['replace', { token: 't4' }],
        ['replace', { token: 'test-access-token' }],
      ]);
      tokens.reset();
      await expect(tokens.replaceRefusedToken(api, 't4')).resolves.toBeDefined();
    } finally {
      jest.useRealTimers();
    }
  });

  it('a scripted failure is what a replacement or a claims token throws', async () => {
    const down = new TokenEndpointError('endpoint_unavailable', 'down', {}, true);
    const tokens = new TokenServiceDouble().willAnswer(down, down);

    await expect(tokens.replaceRefusedToken('api://a/.default', 'x')).rejects.toBe(down);
    await expect(tokens.getAccessTokenWithClaims('api://a/.default', '{}')).rejects.toBe(down);
    expect(tokens.getStats().failures).toEqual({ endpoint_unavailable: 2 });
  });

  it('forgetRefusedToken and getAccessTokenWithClaims are recorded with the refused token and the claims', async () => {
    const tokens = new TokenServiceDouble().willAnswer('with-claims');
    const claims = '{"access_token":{"nbf":{"essential":true,"value":"1"}}}';

    tokens.forgetRefusedToken('api://a/.default', 'revoked', { tenantId: 'contoso.com' });
    const token = await tokens.getAccessTokenWithClaims('api://a/.default', claims);

    expect(token.token).toBe('with-claims');
    expect(tokens.calls).toEqual([
      expect.objectContaining({
        kind: 'forget',
        refused: 'revoked',
        tenantId: 'contoso.com',
        outcome: { none: true },
      }),
      expect.objectContaining({ kind: 'claims', claims, outcome: { token: 'with-claims' } }),
    ]);
    // A forget asks for no token.
    expect(tokens.getStats().tokenRequests).toBe(1);
  });

  it('refuses what the real service refuses: claims that are not JSON, unknown credentials, an aborted signal', async () => {
    const tokens = new TokenServiceDouble({ credentials: ['orders'], defaultCredential: 'orders' });

    await expect(tokens.getAccessTokenWithClaims('api://a/.default', 'nope')).rejects.toMatchObject(
      {
        code: 'claims_invalid',
      },
    );
    expect(() =>
      tokens.forgetRefusedToken('api://a/.default', 'x', { credential: 'billing' }),
    ).toThrow(expect.objectContaining({ code: 'credential_unknown' }));
    await expect(
      tokens.replaceRefusedToken('api://a/.default', 'x', { credential: 'billing' }),
    ).rejects.toMatchObject({ code: 'credential_unknown' });
    expect(() => tokens.tenantOf('billing')).toThrow(
      expect.objectContaining({ code: 'credential_unknown' }),
    );
    expect(() => tokens.getStats('billing')).toThrow(
      expect.objectContaining({ code: 'credential_unknown' }),
    );
    await expect(
      tokens.getAccessToken('api://a/.default', { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(ClientCredentialsError);
    expect(tokens.calls.map((c) => c.outcome)).toEqual([
      { error: 'claims_invalid' },
      { error: 'credential_unknown' },
      { error: 'credential_unknown' },
      { error: 'aborted' },
    ]);
  });

  it('tenantOf is the tenantId option, for any credential it knows', () => {
    expect(new TokenServiceDouble().tenantOf()).toBe('test-tenant');
    expect(new TokenServiceDouble({ tenantId: 'contoso' }).tenantOf('default')).toBe('contoso');
  });
});
