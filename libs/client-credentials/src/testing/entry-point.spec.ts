/* eslint-disable @typescript-eslint/no-require-imports -- modules must be loaded inside jest.isolateModules, which only require() can do */
/**
 * What a user's unit test loads: the root entry and `nest-client-credentials/testing` load without
 * jose (ESM-only: jest before Node 24.9 cannot require() it untransformed) and without
 * @peculiar/x509 (an optional peer). Only starting the local authority needs them.
 */
describe('the testing entry point', () => {
  const ABSENT = ['jose', '@peculiar/x509'];

  function without<T>(load: () => T): T {
    let loaded: T | undefined;
    jest.isolateModules(() => {
      for (const name of ABSENT)
        jest.doMock(name, () => {
          throw new Error(`Cannot find module '${name}'`);
        });
      try {
        loaded = load();
      } finally {
        for (const name of ABSENT) jest.dontMock(name);
      }
    });
    return loaded as T;
  }

  it('loads, with the root entry, without jose or @peculiar/x509: a TokenServiceDouble answers', async () => {
    const testing = without(
      () =>
        require('@app/client-credentials/testing') as typeof import('@app/client-credentials/testing'),
    );
    const lib = without(
      () => require('@app/client-credentials') as typeof import('@app/client-credentials'),
    );
    expect(typeof lib.ClientCredentialsModule).toBe('function');
    await expect(
      new testing.TokenServiceDouble().getAuthorizationHeader('api://x/.default'),
    ).resolves.toBe('Bearer test-access-token');
  });

  it('needs them when startLocalAuthority is called', () => {
    expect(() =>
      without(() => {
        const testing =
          require('@app/client-credentials/testing') as typeof import('@app/client-credentials/testing');
        return testing.startLocalAuthority();
      }),
    ).toThrow(/Cannot find module '(jose|@peculiar\/x509)'/);
  });
});
