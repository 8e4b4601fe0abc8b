import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonConfigError, loadDaemonConfig } from './load-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';

/** The YAML of a valid configuration, then `extra` lines. */
function yaml(...extra: string[]): string {
  return [
    'downstreamApis:',
    '  orders: { baseUrl: "https://orders.contoso.com", scopes: "api://orders/.default" }',
    'workers:',
    '  poller: { type: poller, intervalSeconds: 30, credential: orders }',
    ...extra,
  ].join('\n');
}

const ORDERS = [
  'credentials:',
  '  orders:',
  `    tenantId: ${TENANT}`,
  `    clientId: ${CLIENT}`,
  "    sources: [{ type: secret, secret: '${ORDERS_SECRET}' }]",
];

/**
 * `${NAME}` expansion over what the YAML parser returns: an alias (`*a`) is the very object of its
 * anchor (`&a`), so the document is a graph, not a tree, and may even contain itself.
 */
describe('loadDaemonConfig: ${…} and YAML aliases', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'daemon-interpolation-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function load(text: string, env: Record<string, string>) {
    const file = join(dir, 'daemon.yaml');
    writeFileSync(file, text);
    return loadDaemonConfig({ file, env });
  }

  function problems(text: string, env: Record<string, string> = { ORDERS_SECRET: 's' }): string {
    try {
      load(text, env);
    } catch (e) {
      // The list of problems, never a RangeError escaping with a stack.
      expect(e).toBeInstanceOf(DaemonConfigError);
      return (e as Error).message;
    }
    throw new Error('expected the configuration to be rejected');
  }

  it('reports an alias that contains itself as a problem of the list', () => {
    const message = problems(yaml(...ORDERS, 'x: &a [*a]'));
    expect(message).toContain(
      "  - x[0]: refers to itself (a YAML alias inside its own anchor): write the value out instead of '*alias'",
    );
    expect(message).toContain("(top level): unknown key 'x'");
  });

  it('reports a self-referencing alias inside a section the library reads, and in a mapping', () => {
    const inCredentials = yaml(
      'credentials: &c',
      '  orders:',
      `    tenantId: ${TENANT}`,
      `    clientId: ${CLIENT}`,
      '    sources: [{ type: secret, secret: s }]',
      '    again: *c',
    );
    expect(problems(inCredentials)).toContain('  - credentials.orders.again: refers to itself');
    const configObject: Record<string, unknown> = {};
    configObject.self = configObject;
    expect(() => loadDaemonConfig({ config: configObject, env: {} })).toThrow(
      'self: refers to itself',
    );
  });

  it('expands ${…} once in a value shared through an alias, even when the value holds ${…}', () => {
    const config = load(
      yaml(
        ...ORDERS.slice(0, -1),
        "    sources: [&secret { type: secret, secret: '${ORDERS_SECRET}' }]",
        '  billing:',
        `    tenantId: ${TENANT}`,
        `    clientId: ${CLIENT}`,
        '    sources: [*secret]',
      ),
      { ORDERS_SECRET: 'pa${LEAKED}ss' },
    );
    const { credentials } = config.clientCredentials;
    expect(credentials.orders.sources[0]).toEqual({ type: 'secret', secret: 'pa${LEAKED}ss' });
    expect(credentials.billing.sources[0]).toEqual({ type: 'secret', secret: 'pa${LEAKED}ss' });
  });

  it('an environment override changes the aliased copy it names, not its anchor', () => {
    const text = yaml(...ORDERS).replace(
      '  poller: { type: poller, intervalSeconds: 30, credential: orders }',
      '  first: &w { type: poller, intervalSeconds: 30, credential: orders }\n  second: *w',
    );
    const config = load(text, {
      ORDERS_SECRET: 's',
      DAEMON__workers__second__intervalSeconds: '60',
    });
    expect(config.workers.first.intervalSeconds).toBe(30);
    expect(config.workers.second.intervalSeconds).toBe(60);
  });
});
