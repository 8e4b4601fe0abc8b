import { DownstreamApiError } from './calling.errors';
import { OriginPolicy } from './origin-policy';

describe('OriginPolicy.resolve', () => {
  const policy = new OriginPolicy('https://gw.contoso.com/orders/api', false, 'orders');

  const refusal = (target: string | URL): DownstreamApiError | undefined => {
    try {
      policy.resolve(target, 'POST');
      return undefined;
    } catch (e) {
      return e as DownstreamApiError;
    }
  };

  it.each([
    ['../payments/refund'],
    ['%2e%2e/payments/refund'],
    ['.%2E/payments/refund'],
    ['items/../../payments/refund'],
    ['..%2fpayments/refund'],
    ['items/..%5C..%5Cpayments'],
    ['/..'],
    ['..'],
    ['../apiX/items'],
    ['//gw.contoso.com/payments/refund'],
    // Path parameters: servlet containers (Tomcat, Jetty, Spring) read `..;x` as `..`.
    ['..;/payments/refund'],
    ['items/..;/..;/payments'],
    ['%2e%2e;x=1/payments'],
    ['..%3Bx/payments'],
    ['.%2e%3b/payments'],
  ])('refuses %s: it leaves the base URL path', (target) => {
    const e = refusal(target);
    expect(e).toBeInstanceOf(DownstreamApiError);
    expect(e).toMatchObject({ code: 'origin_refused', api: 'orders', method: 'POST' });
    expect(e!.message).toContain("outside the base URL's path /orders/api/");
  });

  it.each([
    ['x', '/orders/api/x'],
    ['/x', '/orders/api/x'],
    // WHATWG URL reads a `\` as `/`: like `/x`, under the base, not at the origin's root.
    ['\\payments/refund', '/orders/api/payments/refund'],
    ['./x', '/orders/api/x'],
    ['items/../x', '/orders/api/x'],
    ['x?a=../b', '/orders/api/x'],
    ['?a=../../b', '/orders/api/'],
    ['', '/orders/api/'],
    ['items/a..b', '/orders/api/items/a..b'],
    ['../api/x', '/orders/api/x'],
    ['items;v=2/x', '/orders/api/items;v=2/x'],
    ['a..;b/x', '/orders/api/a..;b/x'],
    // A colon in the first segment is no scheme (AIP-136 custom methods), as axios reads it.
    ['orders:search', '/orders/api/orders:search'],
    ['mailto:x', '/orders/api/mailto:x'],
    ['https:/x', '/orders/api/https:/x'],
  ])('resolves %s under the base URL path', (target, path) => {
    expect(policy.resolve(target).pathname).toBe(path);
  });

  it('keeps an absolute URL on the origin as it is, any path of it (documented)', () => {
    expect(policy.resolve('https://gw.contoso.com/payments/x').pathname).toBe('/payments/x');
    expect(policy.resolve(new URL('https://gw.contoso.com/payments/x')).pathname).toBe(
      '/payments/x',
    );
  });

  it('keeps an absolute URL under the base URL path only, given absoluteUrls: base (a named API)', () => {
    const api = new OriginPolicy('https://gw.contoso.com/orders/api', false, 'orders', 'base');
    expect(api.resolve('https://gw.contoso.com/orders/api/items?$skip=10').href).toBe(
      'https://gw.contoso.com/orders/api/items?$skip=10',
    );
    for (const target of [
      'https://gw.contoso.com/payments/refund',
      'https://gw.contoso.com/orders/api/..;/payments',
      new URL('https://gw.contoso.com/orders/apiX'),
    ]) {
      expect(() => api.resolve(target)).toThrow("outside the base URL's path /orders/api/");
    }
  });

  it('refuses a URL of another scheme, naming the scheme', () => {
    expect(refusal('ftp://gw.contoso.com/orders/api/x')?.message).toContain(
      'URL of scheme ftp: (not http or https)',
    );
  });

  it('refuses another origin, whatever the form', () => {
    for (const target of [
      'https://evil.example/x',
      '//evil.example/x',
      '\\\\evil.example/x',
      ' \t/\n/evil.example/x',
    ]) {
      expect(refusal(target)?.message).toContain('another origin');
    }
  });

  it('holds a base URL at the root of its origin to the origin alone', () => {
    const root = new OriginPolicy('https://orders.contoso.com');
    expect(root.resolve('\\x').pathname).toBe('/x');
    expect(root.resolve('a/../../x').pathname).toBe('/x');
  });
});
