import FormDataStream from 'form-data';
import { Readable } from 'node:stream';
import { AccessToken } from '../access-token';
import type { TokenService } from '../token.service';
import { isReplayableBody, tokenToResend } from './resend';

const CLAIMS = Buffer.from('{"access_token":{"nbf":{"essential":true,"value":"1"}}}').toString(
  'base64',
);
const token = (value: string) =>
  new AccessToken(
    value,
    'Bearer',
    Date.now() + 3_600_000,
    undefined,
    ['api://a/.default'],
    'a',
    'network',
  );

/** The three methods the rule calls, recording their calls. */
function tokens() {
  const calls: string[] = [];
  const service = {
    replaceRefusedToken: async (_: unknown, refused: string) => {
      calls.push(`replace ${refused}`);
      return token('replacement');
    },
    // True: forgotten (no hold-off in this fake).
    forgetRefusedToken: (_: unknown, refused: string) => calls.push(`forget ${refused}`) > 0,
    getAccessTokenWithClaims: async (_: unknown, claims: string) => {
      calls.push(`claims ${claims}`);
      return token('claims');
    },
  };
  return { calls, service: service as unknown as TokenService };
}

describe('isReplayableBody: the one rule of fetch and axios', () => {
  it.each<[string, unknown]>([
    ['no body', undefined],
    ['null', null],
    ['a string', 'x'],
    ['a Buffer', Buffer.from('x')],
    ['a Uint8Array', new Uint8Array(1)],
    ['a DataView', new DataView(new ArrayBuffer(1))],
    ['an ArrayBuffer', new ArrayBuffer(1)],
    ['a Blob', new Blob(['x'])],
    ['URLSearchParams', new URLSearchParams('a=1')],
    ['a spec FormData', new FormData()],
  ])('%s can be sent again', (_, body) => {
    expect(isReplayableBody(body)).toBe(true);
  });

  it.each<[string, () => unknown]>([
    ['a Node stream', () => Readable.from(['x'])],
    ['a web ReadableStream', () => new ReadableStream()],
    [
      'an async iterable',
      () =>
        (async function* () {
          yield 'x';
        })(),
    ],
    [
      'an iterator',
      () =>
        (function* () {
          yield 'x';
        })(),
    ],
    ['a form-data form', () => new FormDataStream()],
    ['an object the rule does not know', () => ({ pipe: undefined })],
  ])('%s cannot', (_, make) => {
    const body = make();
    expect(isReplayableBody(body)).toBe(false);
    (body as { destroy?: () => void }).destroy?.();
  });
});

describe('tokenToResend', () => {
  const target = { scopes: 'api://a/.default' };
  const refused = token('refused');

  it.each([
    ['invalid_token', 'Bearer error="invalid_token"', 'replace refused', 'replacement'],
    [
      'insufficient_claims',
      `Bearer error="insufficient_claims", claims="${CLAIMS}"`,
      'claims {"access_token":{"nbf":{"essential":true,"value":"1"}}}',
      'claims',
    ],
  ])('%s with a body that can be sent again: a new token', async (error, header, call, value) => {
    const { calls, service } = tokens();
    const answer = await tokenToResend(service, target, refused, {
      challenge: header,
      fromApi: true,
      body: 'x',
    });
    expect(answer).toMatchObject({ error, token: { token: value } });
    expect(calls.at(-1)).toBe(call);
  });

  it.each([
    ['invalid_token', 'Bearer error="invalid_token"'],
    ['insufficient_claims', `Bearer error="insufficient_claims", claims="${CLAIMS}"`],
  ])(
    '%s with a one-shot body: no token, the refused one withdrawn without a request',
    async (error, header) => {
      const { calls, service } = tokens();
      const body = Readable.from(['x']);
      const answer = await tokenToResend(service, target, refused, {
        challenge: header,
        fromApi: true,
        body,
      });
      expect(answer).toEqual({ error });
      expect(calls).toEqual(['forget refused']);
    },
  );

  it.each([
    ['another origin', { fromApi: false, challenge: 'Bearer error="invalid_token"' }],
    ['no challenge', { fromApi: true, challenge: null }],
    ['insufficient_scope', { fromApi: true, challenge: 'Bearer error="insufficient_scope"' }],
    [
      'claims that are not JSON',
      { fromApi: true, challenge: 'Bearer error="insufficient_claims", claims="bm9wZQ=="' },
    ],
  ])('%s: nothing is done', async (_, refusal) => {
    for (const body of ['x', Readable.from(['x'])]) {
      const { calls, service } = tokens();
      const answer = await tokenToResend(service, target, refused, { ...refusal, body });
      expect(answer.token).toBeUndefined();
      expect(calls).toEqual([]);
    }
  });

  it('names the same credential, tenant, agent and agent user whether it replaces or withdraws the token', async () => {
    const options: unknown[] = [];
    const service = {
      replaceRefusedToken: async (_: unknown, __: string, o: unknown) => {
        options.push(o);
        return token('replacement');
      },
      forgetRefusedToken: (_: unknown, __: string, o: unknown) => options.push(o) > 0,
    } as unknown as TokenService;
    const who = {
      credential: 'fleet',
      tenantId: 't1',
      agent: 'billing',
      agentUser: 'ana@x.example',
    };
    const agentTarget = { ...target, ...who };
    const challenge = 'Bearer error="invalid_token"';
    for (const body of ['x', Readable.from(['x'])]) {
      await tokenToResend(service, agentTarget, refused, { challenge, fromApi: true, body });
    }
    expect(options).toEqual([expect.objectContaining(who), expect.objectContaining(who)]);
  });

  it('a request that cannot be sent again (resendable: false): withdrawn, whatever its body', async () => {
    const { calls, service } = tokens();
    const answer = await tokenToResend(service, target, refused, {
      challenge: 'Bearer error="invalid_token"',
      fromApi: true,
      body: 'x',
      resendable: false,
    });
    expect(answer).toEqual({ error: 'invalid_token' });
    expect(calls).toEqual(['forget refused']);
  });
});
