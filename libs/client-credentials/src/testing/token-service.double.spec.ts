// The examples of docs/testing.md, run as they are written there.
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TokenEndpointError, TokenService } from '@app/client-credentials';
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
