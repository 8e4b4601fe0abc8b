import { AuthorityFailure } from '../errors/authority-failure';
import { type AnswerTrail, identityAnswer, unrecognisedAnswers } from './identity-answer';

const html = { 'content-type': 'text/html' };
const json = { 'content-type': 'application/json' };

function kindOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as AuthorityFailure).kind;
  }
}

describe('identityAnswer: the status decides before the body', () => {
  it.each([
    [404, { ...html, server: 'EC2ws' }, '<html>404 - Not Found</html>'],
    [401, { 'content-type': 'text/plain', server: 'EC2ws' }, ''],
    [403, { ...html, 'metadata-flavor': 'Google' }, 'Missing Metadata-Flavor:Google header.'],
    [401, { 'content-type': 'text/plain' }, ''],
    [403, html, 'Forbidden'],
    [200, json, '{"instance":"i-123"}'],
    [302, { location: 'https://login.example/x?code=secret' }, ''],
  ])('%i that is no managed identity answer: not_managed_identity', (status, headers, text) => {
    let failure: AuthorityFailure | undefined;
    try {
      identityAnswer({ status, headers, text }, 'imds');
    } catch (e) {
      failure = e as AuthorityFailure;
    }
    expect(failure?.kind).toBe('not_managed_identity');
    expect(failure?.errorMessage).toContain(`imds endpoint's address answered HTTP ${status}`);
    expect(failure?.errorMessage).not.toContain('secret');
  });

  it('a 410 whatever its body reaches the maintenance rule with its status', () => {
    const text = identityAnswer({ status: 410, headers: {}, text: 'Gone' }, 'imds');
    expect(text).toMatchObject({ status: 410, body: { error: 'gone' } });
    const parsed = identityAnswer({ status: 410, headers: json, text: '{"error":"x"}' }, 'imds');
    expect(parsed.body).toEqual({ error: 'x' });
  });

  it('429 and 5xx are transient whatever their body', () => {
    expect(
      kindOf(() => identityAnswer({ status: 502, headers: html, text: '<h1/>' }, 'imds')),
    ).toBe('endpoint_unavailable');
    expect(kindOf(() => identityAnswer({ status: 500, headers: json, text: '{}' }, 'imds'))).toBe(
      'endpoint_unavailable',
    );
    expect(kindOf(() => identityAnswer({ status: 429, headers: {}, text: '' }, 'imds'))).toBe(
      'throttled',
    );
  });

  it('a 404 or 408 with no managed identity answer in it goes to msal, which retries it, under a stand-in body; its trail says so until a managed identity answer', () => {
    const trail: AnswerTrail = { count: 0 };
    for (const [status, text] of [
      [404, ''],
      [408, 'upstream not ready'],
      [404, '<html>404</html>'],
    ] as const) {
      const answer = identityAnswer({ status, headers: html, text }, 'imds', trail);
      expect(answer).toMatchObject({ status, body: { error: `http_${status}` } });
    }
    expect(trail.count).toBe(3);
    const failure = unrecognisedAnswers(trail, 'imds');
    expect(failure?.kind).toBe('not_managed_identity');
    expect(failure?.errorMessage).toContain(
      "imds endpoint's address answered HTTP 404 (text/html, 16 bytes) 3 times in a row",
    );
    // A genuine answer (here IMDS's JSON 404) ends the trail: msal's error is the endpoint's.
    identityAnswer({ status: 404, headers: json, text: '{"error":"not_found"}' }, 'imds', trail);
    expect(unrecognisedAnswers(trail, 'imds')).toBeUndefined();
  });

  it("managed identity answers go to msal: tokens, OAuth/IMDS errors, App Service's shape, Arc's challenge", () => {
    const answers = [
      { status: 200, text: '{"access_token":"a","expires_in":"60"}' },
      { status: 400, text: '{"error":"invalid_request","error_description":"Identity not found"}' },
      { status: 404, text: '{"error":"not_found"}' },
      {
        status: 400,
        text: '{"statusCode":400,"message":"Unable to load the proper Managed Identity."}',
      },
    ];
    for (const a of answers) {
      expect(identityAnswer({ ...a, headers: json }, 'app-service').status).toBe(a.status);
    }
    const challenge = { 'www-authenticate': 'Basic realm=/var/opt/azcmagent/tokens/x.key' };
    expect(identityAnswer({ status: 401, headers: challenge, text: '' }, 'azure-arc').status).toBe(
      401,
    );
    // The same 401 elsewhere is no challenge of ours.
    expect(
      kindOf(() => identityAnswer({ status: 401, headers: challenge, text: '' }, 'imds')),
    ).toBe('not_managed_identity');
  });
});
