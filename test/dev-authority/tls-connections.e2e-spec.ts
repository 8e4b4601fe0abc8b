import { Agent, request } from 'undici';
import { startDevAuthority } from '@app/dev-authority';
import { useFixtures } from '../support/fixtures';

const [authority] = useFixtures(startDevAuthority);

/**
 * `tlsConnections` counts handshakes at the server, whoever the client is: the bench compares
 * msal-node's and @azure/identity's default clients (whose pools it cannot see) with ours.
 */
describe('dev-authority tlsConnections', () => {
  const agents: Agent[] = [];

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.destroy()));
  });

  const agent = () => {
    const a = new Agent({ connect: { ca: authority.caPem }, connections: 1 });
    agents.push(a);
    return a;
  };
  const discover = async (dispatcher: Agent) => {
    const tenant = authority.createTenant();
    const url = `${authority.url}/${tenant.tenantId}/v2.0/.well-known/openid-configuration`;
    const res = await request(url, { dispatcher });
    await res.body.json();
    return res.statusCode;
  };

  it('counts one per handshake: a kept-alive connection once, a second client again', async () => {
    const before = authority.tlsConnections;
    const first = agent();
    for (let i = 0; i < 3; i++) expect(await discover(first)).toBe(200);
    expect(authority.tlsConnections - before).toBe(1);

    expect(await discover(agent())).toBe(200);
    expect(authority.tlsConnections - before).toBe(2);
    authority.resetLog();
    expect(authority.tlsConnections - before).toBe(2);
  });
});
