import { ServerError } from '@azure/msal-node';
import { AuthorityFailure, type AuthorityFailureKind } from './authority-failure';
import {
  ClientCredentialsError,
  ConfigurationError,
  InvalidRequestError,
  TokenEndpointError,
  TokenRequestRejectedError,
} from './client-credentials.errors';
import { ERROR_CATALOG } from './error-catalog';
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

describe('toClientCredentialsError: the class and transience the catalogue promises', () => {
  const classes = {
    ClientCredentialsError,
    ConfigurationError,
    InvalidRequestError,
    TokenRequestRejectedError,
    TokenEndpointError,
  };

  it.each<AuthorityFailureKind>([
    'rejected',
    'endpoint_unavailable',
    'throttled',
    'timeout',
    'network_error',
    'invalid_response',
    'not_managed_identity',
    'redirected',
    'unbound',
  ])('an authority failure of kind %s', (kind) => {
    const error = toClientCredentialsError(new AuthorityFailure(kind, {}, 'what it said'), where);
    const row = ERROR_CATALOG[error.code];
    expect(error.constructor).toBe(classes[row.class]);
    if (row.transient !== 'varies') expect(error.transient).toBe(row.transient === 'yes');
  });

  it('a redirect is a refusal, never transient: an instanceof TokenEndpointError retry ends', () => {
    const error = toClientCredentialsError(
      new AuthorityFailure('redirected', { status: 302 }, 'a redirect'),
      where,
    );
    expect(error).toBeInstanceOf(TokenRequestRejectedError);
    expect(error).not.toBeInstanceOf(TokenEndpointError);
    expect(error).toMatchObject({ code: 'authority_redirected', transient: false, status: 302 });
  });
});
