// Nest 12, jose and oidc-provider are ESM-only; jest on Node 20 cannot require() them, so swc transforms them too.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|jose|oidc-provider|oauth4webapi)/)'],
  // Where tests and their modules are: not `dist/`, whose packed package (`npm run build`)
  // shares the root's name, which jest's module map would warn of at every start.
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/scripts', '<rootDir>/test'],
  moduleNameMapper: {
    '^@app/client-credentials(|/.*)$': '<rootDir>/libs/client-credentials/src$1',
    '^@app/dev-authority(|/.*)$': '<rootDir>/libs/dev-authority/src$1',
  },
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/{libs,apps,scripts}/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/loopback-only.ts'],
      // SoftHSM2's configuration must be in the real environment before the workers start.
      globalSetup: '<rootDir>/test/support/softhsm-setup.ts',
      globalTeardown: '<rootDir>/test/support/softhsm-teardown.ts',
    },
  ],
  testTimeout: 30000,
  // Most e2e suites wait (on latency faults, refresh points, child processes) rather than compute:
  // three at a time keep two cores busy and the whole run within a few minutes.
  maxWorkers: 3,
};
