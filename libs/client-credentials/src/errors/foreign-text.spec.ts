import { foreignText, thrownText } from './foreign-text';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('foreignText: text the library did not write, as an error may carry it', () => {
  it('keeps the first line, bounded', () => {
    expect(foreignText('vault refused\r\n    at fetch (x.js:1)')).toBe('vault refused');
    expect(foreignText('x'.repeat(500))).toHaveLength(200);
  });

  it('cuts tokens and the values of credential fields', () => {
    expect(
      foreignText(
        `GET https://acct.blob.core.windows.net/c?sv=2024&sig=AbC%2B1&se=1 sent ${JWT}; client_secret=s3cr3t password=hunter2, AccountKey=a2V5==;x`,
      ),
    ).toBe(
      'GET https://acct.blob.core.windows.net/c?sv=2024&sig=[redacted]&se=1 sent [token]; client_secret=[redacted] password=[redacted], AccountKey=[redacted];x',
    );
  });

  it('names what a callback threw, whatever it was', () => {
    expect(thrownText(new Error(`refused ${JWT}`))).toBe('refused [token]');
    expect(thrownText(new TypeError(''))).toBe('TypeError');
    expect(thrownText('key=abc')).toBe('key=[redacted]');
    expect(thrownText(undefined)).toBe('undefined');
  });
});
