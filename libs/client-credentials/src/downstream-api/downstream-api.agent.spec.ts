import { ClientCredentialsError } from '../errors/client-credentials.errors';
import type { TokenService } from '../token.service';
import { DownstreamApi } from './downstream-api.client';
import { resolveDownstreamApis } from './downstream-api.options';

describe('DownstreamApi: agent users', () => {
  /** The who of each token asked for (the token service refuses every call: no request is sent). */
  async function askedBy(
    api: Parameters<typeof resolveDownstreamApis>[0],
    calls: Parameters<DownstreamApi['get']>[1][],
  ): Promise<unknown[]> {
    const asked: unknown[] = [];
    const tokens = {
      getAccessToken: async (_: unknown, o: { agent?: string; agentUser?: string }) => {
        asked.push({ agent: o.agent, agentUser: o.agentUser });
        throw new ClientCredentialsError('agent_unknown', 'refused in this test');
      },
    } as unknown as TokenService;
    const client = new DownstreamApi('mail', resolveDownstreamApis(api).mail, tokens);
    try {
      for (const call of calls) await expect(client.get('me', call)).rejects.toThrow('refused');
    } finally {
      await client.close();
    }
    return asked;
  }

  it("carries the API's agent user (configured, validated by the schema) and a call's own", async () => {
    const mail = {
      baseUrl: 'https://mail.example',
      scopes: 'https://graph.microsoft.com/Mail.Read',
      credential: 'fleet',
      agent: 'billing',
      agentUser: ' ana@contoso.example ',
    };
    const asked = await askedBy({ mail }, [
      undefined,
      { agentUser: 'bob@contoso.example' },
      // Another agent: the API's agent user is billing's, not support's.
      { agent: 'support' },
      { agent: 'support', agentUser: 'eve@contoso.example' },
    ]);
    expect(asked).toEqual([
      { agent: 'billing', agentUser: 'ana@contoso.example' },
      { agent: 'billing', agentUser: 'bob@contoso.example' },
      { agent: 'support', agentUser: undefined },
      { agent: 'support', agentUser: 'eve@contoso.example' },
    ]);
  });

  it('refuses an empty agentUser in configuration, naming the field', () => {
    expect(() =>
      resolveDownstreamApis({
        mail: { baseUrl: 'https://mail.example', scopes: 'x', agent: 'a', agentUser: ' ' },
      }),
    ).toThrow(/downstreamApis\.mail\.agentUser: must not be empty/);
  });
});
