// The direction of imports in libs/ and apps/, checked by `npm run lint` (dependency-cruiser).
// The library's layers, lowest first: each may import the ones before it, never one after it.
// Type-only imports count too (tsPreCompilationDeps): a cycle of types is still a cycle.
const SRC = '^libs/client-credentials/src/';
const LAYERS = [
  // The public contracts: option types and the token a caller gets. They import only each other.
  [
    'contracts',
    `${SRC}(client-credentials\\.options|client-credentials\\.events|credential\\.options|credential-source\\.options|shared-cache\\.options|access-token)\\.ts$`,
  ],
  ['errors', `${SRC}errors/`],
  ['timing', `${SRC}timing/`],
  ['options', `${SRC}options/`],
  ['authority', `${SRC}authority/`],
  ['shared-cache', `${SRC}shared-cache/`],
  ['observability', `${SRC}observability/`],
  // Keys held elsewhere (PKCS#11, Key Vault): what signs a certificate's assertions.
  ['signing', `${SRC}signing/`],
  ['credentials', `${SRC}credentials/`],
  ['cache', `${SRC}cache/`],
  ['acquisition', `${SRC}acquisition/`],
  // The module, the service and the root entry.
  ['service', `${SRC}[^/]+\\.ts$`],
  // Sub-entries: they may import the core; the core never imports them.
  ['calling', `${SRC}calling/`],
  ['downstream-api', `${SRC}downstream-api/`],
  ['health', `${SRC}health/`],
  ['testing', `${SRC}testing/`],
];

/** Entries that are not layers of one another: none imports another. */
const SIBLINGS = [['health', 'testing', 'calling']];

const path = (name) => LAYERS.find(([n]) => n === name)[1];

const layerRules = LAYERS.flatMap(([name, from], i) => {
  const above = LAYERS.slice(i + 1)
    .filter(([other]) => !(name === 'contracts' && other === 'service'))
    .map(([, p]) => `(${p})`);
  // The root's own files (service layer) match `[^/]+\.ts` and so do the contracts: exclude them.
  const pathNot = name === 'service' ? path('contracts') : undefined;
  return above.length === 0
    ? []
    : [
        {
          name: `layer-${name}`,
          comment: `${name} imports only the layers below it (${LAYERS.slice(0, i)
            .map(([n]) => n)
            .join(', ')})`,
          severity: 'error',
          from: { path: from, ...(pathNot ? { pathNot } : {}) },
          to: {
            path: above.join('|'),
            // A contract imports only contracts: the root's other files are the service layer.
            ...(name === 'contracts' ? {} : { pathNot: path('contracts') }),
          },
        },
      ];
});

const siblingRules = SIBLINGS.flatMap((group) =>
  group.map((name) => ({
    name: `entry-${name}-alone`,
    comment: `the ${name} entry imports no other entry`,
    severity: 'error',
    from: { path: path(name) },
    to: {
      path: group
        .filter((n) => n !== name)
        .map((n) => `(${path(n)})`)
        .join('|'),
    },
  })),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycle anywhere, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'libs-not-apps',
      comment: 'a library never imports an app: what apps and libraries share is a library',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'authority-stands-alone',
      comment:
        'the local authority is a library of its own: it imports nothing of the client library',
      severity: 'error',
      from: { path: '^libs/dev-authority/' },
      to: { path: '^libs/client-credentials/' },
    },
    {
      name: 'only-testing-uses-the-authority',
      comment: 'the client library reaches the local authority through its testing entry only',
      severity: 'error',
      from: { path: '^libs/client-credentials/', pathNot: path('testing') },
      to: { path: '^libs/dev-authority/' },
    },
    {
      name: 'apps-use-public-entries',
      comment:
        'an app uses the library as an outside app would: through its entry points (index.ts of the root, calling, calling/axios, downstream-api, health, testing)',
      severity: 'error',
      from: { path: '^apps/' },
      to: {
        path: SRC,
        pathNot: `${SRC}((calling|calling/axios|downstream-api|health|testing)/)?index\\.ts$`,
      },
    },
    ...layerRules,
    ...siblingRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
