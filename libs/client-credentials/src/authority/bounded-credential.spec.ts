import { boundedCredential } from './bounded-credential';
import type { MsalClientCredential, TokenSource } from './source-client';

type Config = Parameters<
  Extract<MsalClientCredential, { clientAssertion: unknown }>['clientAssertion']
>[0];
const config = { clientId: 'c', tokenEndpoint: 'https://x/token' } as Config;

function sourceOf(clientAssertion: () => Promise<string>): TokenSource {
  return {
    type: 'workload-identity',
    id: 'workload-identity#0',
    init: async () => [],
    msalCredential: () => ({ clientAssertion }),
    toJSON: () => ({}),
  };
}

describe('boundedCredential: a source that does not make its credential in time', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('fails as source_unavailable (transient) once twice requestMs have passed', async () => {
    const bounded = boundedCredential(
      sourceOf(() => new Promise<string>(() => undefined)),
      1000,
    );
    if (!('clientAssertion' in bounded)) throw new Error('no assertion callback');
    const outcome = bounded.clientAssertion(config).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(1999);
    let settled = false;
    void outcome.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await expect(outcome).resolves.toMatchObject({
      code: 'source_unavailable',
      transient: true,
      message: expect.stringContaining(
        "Credential source 'workload-identity#0' is unavailable: it did not make its client assertion within 2000 ms (twice timeouts.requestMs).",
      ) as unknown,
    });
  });

  it('passes an assertion or a failure made in time through as they are', async () => {
    const ok = boundedCredential(
      sourceOf(async () => 'a.b.c'),
      1000,
    );
    const failing = new Error('no');
    const bad = boundedCredential(
      sourceOf(async () => {
        throw failing;
      }),
      1000,
    );
    if (!('clientAssertion' in ok) || !('clientAssertion' in bad)) throw new Error('no callback');
    await expect(ok.clientAssertion(config)).resolves.toBe('a.b.c');
    await expect(bad.clientAssertion(config)).rejects.toBe(failing);
  });

  it('leaves a secret alone', () => {
    const secret: TokenSource = {
      ...sourceOf(async () => ''),
      msalCredential: () => ({ clientSecret: 's' }),
    };
    expect(boundedCredential(secret, 1000)).toEqual({ clientSecret: 's' });
  });
});
