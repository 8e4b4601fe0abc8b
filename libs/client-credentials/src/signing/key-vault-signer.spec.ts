import { vaultRetryAfterMs } from './key-vault-signer';

describe('vaultRetryAfterMs', () => {
  const answer = (headers: Record<string, string>) => ({
    statusCode: 429,
    response: { headers: { get: (name: string) => headers[name] } },
  });

  it("reads Azure's millisecond headers first, then Retry-After in seconds or as a date", () => {
    expect(vaultRetryAfterMs(answer({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1500);
    expect(vaultRetryAfterMs(answer({ 'x-ms-retry-after-ms': '250' }))).toBe(250);
    expect(vaultRetryAfterMs(answer({ 'retry-after': '3600' }))).toBe(3_600_000);
    const date = new Date(Date.now() + 60_000).toUTCString();
    expect(vaultRetryAfterMs(answer({ 'retry-after': date }))).toBeGreaterThan(50_000);
  });

  it('none, or nonsense: undefined (the core backoff applies)', () => {
    expect(vaultRetryAfterMs(answer({}))).toBeUndefined();
    expect(
      vaultRetryAfterMs(answer({ 'x-ms-retry-after-ms': 'soon', 'retry-after': 'later' })),
    ).toBeUndefined();
    expect(vaultRetryAfterMs({ statusCode: 503 })).toBeUndefined();
  });
});
