import { startDevAuthority, type Tenant } from '@app/dev-authority';
import { AuthorityHttp, type HttpAnswer } from '../support/dev-authority-client';
import { releaseAll, useFixtures } from '../support/fixtures';

/** Entra's error body, with the code and the status it goes with. */
function expectEntraError(answer: HttpAnswer, status: number, error: string, code: number): void {
  expect({ status: answer.status, body: answer.json }).toMatchObject({
    status,
    body: {
      error,
      error_codes: [code],
      error_description: expect.stringMatching(
        new RegExp(
          `^AADSTS${code}: .+\\r\\nTrace ID: .+\\r\\nCorrelation ID: .+\\r\\nTimestamp: .+$`,
        ),
      ),
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      trace_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      error_uri: expect.stringContaining(`code=${code}`),
    },
  });
}

const basic = (raw: string) => `Basic ${Buffer.from(raw, 'utf8').toString('base64')}`;

const [authority] = useFixtures(startDevAuthority);

/** Requests no client sends on purpose answer as Entra does: an error body, never a 500. */
describe('dev-authority: malformed requests', () => {
  let tenant: Tenant;
  let http: AuthorityHttp;
  let tokenUrl: string;

  beforeAll(() => {
    tenant = authority.createTenant();
    http = new AuthorityHttp(authority);
    tokenUrl = `${authority.url}/${tenant.tenantId}/oauth2/v2.0/token`;
  });
  afterAll(() => releaseAll(http));

  const form = { grant_type: 'client_credentials', scope: 'api://dev-api/.default' };

  it.each([
    ['not base64', 'Basic %%%'],
    ['a client id with a bad % escape', basic('app%zz:secret')],
    ['a secret with a truncated % escape', basic('app:secret%E0%A4%A')],
    ['no colon between id and secret', basic('no-colon-here')],
  ])('HTTP Basic with %s: 400 invalid_request AADSTS9002313', async (_what, authorization) => {
    const answer = await http.postForm(tokenUrl, form, { authorization });

    expectEntraError(answer, 400, 'invalid_request', 9002313);
    expect(answer.text).not.toContain('URIError');
  });

  it('the malformed request is logged and counted as an error, like any other', async () => {
    const before = authority.countTokenRequests({ tenantId: tenant.tenantId });
    await http.postForm(tokenUrl, form, { authorization: basic('%:%') });

    expect(authority.countTokenRequests({ tenantId: tenant.tenantId })).toBe(before + 1);
    expect(authority.log.at(-1)).toMatchObject({
      status: 400,
      outcome: 'error',
      errorCode: 9002313,
    });
  });

  it('a well-formed Basic header with form-urlencoded parts still authenticates', async () => {
    const app = tenant.createApp();
    const secret = app.addSecret();
    const answer = await http.postForm(tokenUrl, form, {
      authorization: basic(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(secret)}`),
    });

    expect(answer.status).toBe(200);
    expect(answer.json.access_token).toEqual(expect.any(String));
  });

  it('a tenant segment with a bad % escape: AADSTS90002 tenant not found', async () => {
    const answer = await http.postForm(`${authority.url}/%E0%A4%A/oauth2/v2.0/token`, form);

    expectEntraError(answer, 400, 'invalid_request', 90002);
  });
});
