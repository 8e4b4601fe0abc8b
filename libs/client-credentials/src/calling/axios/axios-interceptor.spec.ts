import axios, { AxiosHeaders, type AxiosAdapter } from 'axios';
import { AccessToken } from '../../access-token';
import type { TokenService } from '../../token.service';
import { useClientCredentials } from './axios-interceptor';

const token = (value: string) =>
  new AccessToken(value, 'Bearer', Date.now() + 3_600_000, undefined, ['x'], 'fleet', 'cache');

describe('useClientCredentials: whom the tokens are for', () => {
  it("an agent user is carried to the token and to the replacement after a 401: the user's token, never the agent's", async () => {
    const asked: unknown[] = [];
    const tokens = {
      getAccessToken: async (_: unknown, o: unknown) => (asked.push(o), token('first')),
      replaceRefusedToken: async (_: unknown, __: string, o: unknown) => (
        asked.push(o),
        token('second')
      ),
      boundCertificate: () => undefined,
    } as unknown as TokenService;
    const sent: string[] = [];
    // The API refuses the first token (invalid_token) and takes the second.
    const adapter: AxiosAdapter = async (config) => {
      const auth = String(config.headers.get('Authorization'));
      sent.push(auth);
      const status = auth === 'Bearer first' ? 401 : 200;
      const headers = new AxiosHeaders({ 'www-authenticate': 'Bearer error="invalid_token"' });
      return { data: '{}', status, statusText: '', headers, config };
    };
    const instance = axios.create({ adapter, validateStatus: (s) => s < 300 || s === 401 });
    const who = { credential: 'fleet', agent: 'billing', agentUser: 'ana@contoso.example' };
    useClientCredentials(instance, tokens, {
      baseUrl: 'https://api.example',
      scopes: 'api://orders/Data.Read',
      ...who,
    });

    await instance.get('https://api.example/data');

    expect(sent).toEqual(['Bearer first', 'Bearer second']);
    expect(asked).toEqual([expect.objectContaining(who), expect.objectContaining(who)]);
  });
});
