import { startDevAuthority } from '@app/dev-authority';
import { AuthorityHttp } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';

const LOG_SIZE = 5;
const startSmallLog = () => startDevAuthority({ requestLogSize: LOG_SIZE });
const [authority] = useFixtures(startSmallLog);

/**
 * The request log is a ring of the most recent `requestLogSize` requests (the authority runs for
 * days in the daemon's dev mode); the counters still count every request since the last reset.
 */
describe('dev-authority request log bound', () => {
  let http: AuthorityHttp;

  beforeAll(() => {
    http = new AuthorityHttp(authority);
  });

  afterAll(async () => {
    await releaseAll(http);
  });

  it('keeps the last requestLogSize requests and counts them all', async () => {
    const tenant = authority.createTenant();
    const app = tenant.createApp();
    const secret = app.addSecret();
    const request = (scope: string) =>
      http.postForm(`${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`, {
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: secret,
        scope,
      });
    for (let i = 0; i < LOG_SIZE + 3; i++)
      expect((await request(authority.apiScope)).status).toBe(200);
    expect((await request('api://nowhere/.default')).status).toBe(400);

    expect(authority.log).toHaveLength(LOG_SIZE);
    expect(authority.log.at(-1)).toMatchObject({ clientId: app.clientId, outcome: 'error' });
    expect(authority.countTokenRequests({ clientId: app.clientId })).toBe(LOG_SIZE + 4);
    expect(authority.countTokenRequests({ clientId: app.clientId, outcome: 'ok' })).toBe(
      LOG_SIZE + 3,
    );
    expect(authority.countTokenRequests({ tenantId: tenant.tenantId, outcome: 'error' })).toBe(1);

    const headers = { 'x-control-token': authority.control.token };
    const log = await http.get(`${authority.control.url}/log`, headers);
    expect(log.json.entries).toHaveLength(LOG_SIZE);
    const counters = await http.get(
      `${authority.control.url}/counters?clientId=${app.clientId}`,
      headers,
    );
    expect(counters.json).toEqual({ tokenRequests: LOG_SIZE + 4 });

    authority.resetLog();
    expect(authority.log).toEqual([]);
    expect(authority.countTokenRequests()).toBe(0);
  });

  it('refuses a requestLogSize that is not a whole number, naming the option', async () => {
    // The refusal's message, or nothing when the authority started (closed again at once).
    const refusal = async (requestLogSize: number) => {
      const started = await startDevAuthority({ requestLogSize }).catch((e: Error) => e);
      if (started instanceof Error) return started.message;
      await started.close();
      return undefined;
    };
    expect(await refusal(-1)).toMatch(/requestLogSize/);
    expect(await refusal(1.5)).toMatch(/requestLogSize/);
  });
});
