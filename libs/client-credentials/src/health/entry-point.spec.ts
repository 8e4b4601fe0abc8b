/* eslint-disable @typescript-eslint/no-require-imports -- modules must be loaded inside jest.isolateModules, which only require() can do */
/**
 * The library's main entry point must load in an app that does not install @nestjs/terminus; only
 * `@app/client-credentials/health` needs it.
 */
describe('entry points', () => {
  function withoutTerminus<T>(load: () => T): T {
    let loaded: T | undefined;
    jest.isolateModules(() => {
      jest.doMock('@nestjs/terminus', () => {
        throw new Error("Cannot find module '@nestjs/terminus'");
      });
      try {
        loaded = load();
      } finally {
        jest.dontMock('@nestjs/terminus');
      }
    });
    return loaded as T;
  }

  it('@app/client-credentials loads without @nestjs/terminus and gives TokenService', () => {
    const lib = withoutTerminus(
      () => require('@app/client-credentials') as typeof import('@app/client-credentials'),
    );
    expect(typeof lib.TokenService).toBe('function');
    expect(typeof lib.ClientCredentialsModule).toBe('function');
    expect('ClientCredentialsHealthIndicator' in lib).toBe(false);
  });

  it('@app/client-credentials/health is the one entry point that needs it', () => {
    expect(() =>
      withoutTerminus(() => require('@app/client-credentials/health') as unknown),
    ).toThrow('@nestjs/terminus');
    const health =
      require('@app/client-credentials/health') as typeof import('@app/client-credentials/health');
    expect(typeof health.ClientCredentialsHealthIndicator).toBe('function');
  });
});
