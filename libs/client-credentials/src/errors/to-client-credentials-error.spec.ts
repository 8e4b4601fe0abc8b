import { ServerError } from '@azure/msal-node';
import { AuthorityFailure } from './authority-failure';
import { toClientCredentialsError } from './to-client-credentials-error';

const where = { credential: 'api', tenantId: 'contoso.onmicrosoft.com' };

/** What our network client raises for an Entra error answer. */
const answer = (aadsts: number, oauthError?: string) =>
  new AuthorityFailure('rejected', { status: 400, aadsts, oauthError }, `AADSTS${aadsts}: …`);

describe('toClientCredentialsError: is it the credential or the request?', () => {
  it.each([700023, 700021, 50048, 50012, 700030])(
    'AADSTS%i refuses the credential (a chain moves on), whatever the error field',
    (aadsts) => {
      for (const oauthError of ['invalid_client', 'unauthorized_client', undefined]) {
        expect(toClientCredentialsError(answer(aadsts, oauthError), where).code).toBe(
          'credential_rejected',
        );
      }
      const msal = new ServerError(
        'unauthorized_client',
        'correlation-id',
        `AADSTS${aadsts}: …`,
        undefined,
        String(aadsts),
        400,
      );
      expect(toClientCredentialsError(msal, where).code).toBe('credential_rejected');
    },
  );

  it('700023 as invalid_scope (a scope without a resource) is the request', () => {
    expect(toClientCredentialsError(answer(700023, 'invalid_scope'), where).code).toBe(
      'request_rejected',
    );
  });

  it.each([
    [700016, 'unauthorized_client'],
    [70011, 'invalid_scope'],
    [500011, 'invalid_resource'],
    [90002, 'invalid_request'],
  ])('AADSTS%i (%s) is the request, not the credential', (aadsts, oauthError) => {
    const error = toClientCredentialsError(answer(aadsts, oauthError), where);
    expect(error).toMatchObject({ code: 'request_rejected', aadsts, tenantId: where.tenantId });
  });
});

describe('toClientCredentialsError: messages', () => {
  it('ends an AADSTS description with one full stop before the hint, not two', () => {
    const failure = new AuthorityFailure(
      'rejected',
      { status: 400, aadsts: 700016, oauthError: 'unauthorized_client' },
      "the token endpoint answered HTTP 400: AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.",
    );
    const { message } = toClientCredentialsError(failure, where);
    expect(message).toContain("directory 'y'. Hint:");
    expect(message).not.toContain('..');
  });

  it('adds the full stop a description without one lacks', () => {
    const failure = new AuthorityFailure('endpoint_unavailable', { status: 503 }, 'HTTP 503');
    expect(toClientCredentialsError(failure, where).message).toMatch(/HTTP 503\. Hint:/);
  });
});
