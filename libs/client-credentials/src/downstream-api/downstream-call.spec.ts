import { inspect } from 'node:util';
import { AccessToken } from '../access-token';
import { DownstreamApiError } from '../calling/calling.errors';
import { answerOf } from './downstream-call';

const TOKEN = 'eyJ0eXAiOiJKV1QifQ.ORDERS-TOKEN.c2ln';
const token = new AccessToken(
  TOKEN,
  'Bearer',
  Date.now() + 3_600_000,
  undefined,
  ['api://orders/.default'],
  'main',
  'cache',
);

/** The error answerOf throws for an answer of `status` with `body`. */
function failureOf(status: number, body: string, type = 'application/json'): DownstreamApiError {
  const res = new Response(body, { status, headers: { 'content-type': type } });
  try {
    answerOf({ res, token }, body, {
      api: 'orders',
      where: { api: 'orders', method: 'GET', path: 'items' },
      target: 'items',
      maxResponseBytes: 10 * 1024 * 1024,
      started: performance.now(),
    });
  } catch (e) {
    return e as DownstreamApiError;
  }
  throw new Error('answerOf did not throw');
}

describe("answerOf: the API's error body an error keeps", () => {
  it('keeps a small JSON body parsed', () => {
    expect(failureOf(500, '{"error":"boom"}')).toMatchObject({
      code: 'api_error',
      body: { error: 'boom' },
    });
  });

  it('cuts a large JSON body to 2,000 characters of text, as a text body', () => {
    const large = JSON.stringify({ items: Array.from({ length: 10_000 }, (_, i) => `item-${i}`) });
    const json = failureOf(500, large);
    const text = failureOf(500, 'x'.repeat(100_000), 'text/plain');

    expect(json.body).toBe(large.slice(0, 2000));
    expect((text.body as string).length).toBe(2000);
  });

  it.each([
    [401, 'api_unauthorized'],
    [500, 'api_error'],
    [200, 'api_invalid_response'],
  ])('%i: an API echoing the request keeps no token in the error', (status, code) => {
    const echo =
      status === 200
        ? `<html>Authorization: Bearer ${TOKEN}</html>`
        : JSON.stringify({ headers: { authorization: `Bearer ${TOKEN}` } });
    const e = failureOf(status, echo);

    expect(e.code).toBe(code);
    for (const shown of [JSON.stringify(e.body), e.message, inspect(e, { depth: 10 })]) {
      expect(shown).not.toContain('ORDERS-TOKEN');
    }
    expect(JSON.stringify(e.body)).toContain('Bearer [redacted]');
  });
});
