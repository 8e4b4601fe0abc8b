import { resolveOptions } from './resolve-options';
import { parameterProblems } from './token-request-parameters';

const base = {
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  clientId: '11111111-2222-3333-4444-555555555555',
  sources: [{ type: 'secret' as const, secret: 's' }],
};

const digestOf = (tokenRequest: object) =>
  resolveOptions({ credentials: { api: { ...base, tokenRequest } } }).credentials.get('api')!
    .tokenRequest!.digest;

describe('token request parameters', () => {
  it("refuses the protocol's parameters in any case, telemetry ones, and headers the HTTP client owns", () => {
    expect(
      parameterProblems(
        { Client_Id: 'x', 'x-client-SKU': 'x', resource: 'api://x', audience: 'a' },
        'parameters',
      ),
    ).toEqual([
      `parameters."Client_Id": is the protocol's own parameter — the library sets it; remove it`,
      `parameters."x-client-SKU": is the protocol's own parameter — the library sets it; remove it`,
    ]);
    expect(
      parameterProblems(
        { 'Content-Type': 'x', 'bad name': 'x', 'x-ok': 'a\r\nInjected: 1', 'x-n': 1 },
        'headers',
      ),
    ).toEqual([
      'headers."Content-Type": cannot be set — use another header name',
      'headers."bad name": cannot be set — use another header name',
      'headers."x-ok": must not contain line breaks',
      'headers."x-n": must be a string',
    ]);
    // Look-alikes of reserved names (dotless i, long s) and other non-ASCII names.
    expect(
      parameterProblems(
        { 'client_\u0131d': 'x', '\u017fcope': 'x', 'ok_name.x-1': 'x' },
        'parameters',
      ),
    ).toEqual([
      expect.stringMatching(/^parameters\."client_\u0131d": must be ASCII letters/),
      expect.stringMatching(/^parameters\."\u017fcope": must be ASCII letters/),
    ]);
  });

  it('names the fixed parameters and headers in the store keys: other values, other tokens', () => {
    const a = digestOf({ parameters: { audience: 'https://a' } });
    expect(digestOf({ parameters: { audience: 'https://a' } })).toBe(a);
    expect(digestOf({ parameters: { audience: 'https://b' } })).not.toBe(a);
    expect(digestOf({ parameters: { audience: 'https://a' }, headers: { 'X-Env': 'p' } })).not.toBe(
      a,
    );
    // Header names are not case-sensitive.
    expect(digestOf({ headers: { 'X-Env': 'p' } })).toBe(digestOf({ headers: { 'x-env': 'p' } }));
  });
});
