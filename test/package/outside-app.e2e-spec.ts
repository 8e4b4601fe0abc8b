import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { startDevAuthority, type DevAuthority } from '@app/dev-authority';
import { isRelative, links } from '../../scripts/docs/markdown';
import { shippedDocs } from '../../scripts/build-package';
import {
  filesOf,
  npmInstalls,
  outputAfter,
  packageName,
  read,
  section,
  type NpmInstall,
} from './newcomer-docs';

const run = promisify(execFile);
const ROOT = join(__dirname, '../..');
/**
 * Each step's bound: it only stops a hang. Nothing here is timed. The suite costs about a minute of
 * CPU (user + sys of two runs: 60 s and 63 s), mostly tsc with skipLibCheck false, the package's
 * build and npm; a loaded machine stretches its wall time several times over, which must not fail it.
 */
const STEP_MS = 300_000;

/** The docs whose files make the newcomer's app, in the order a newcomer reads them. */
const DOCS = ['docs/getting-started.md', 'docs/health-and-metrics.md', 'docs/testing.md'];
/** The files of the first step (getting-started.md up to the first token): no optional peer. */
const FIRST_STEP = ['tsconfig.json', 'src/app.module.ts', 'src/main.ts'];
/** The package's optional peers: none of them is installed for the first step. */
const OPTIONAL_PEERS = [
  '@keyv/redis',
  '@nestjs/terminus',
  '@opentelemetry/api',
  'axios',
  '@peculiar/x509',
  'pkcs11js',
  '@azure/keyvault-keys',
];

const installedVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

/**
 * The newcomer's path, from the packed package, in a folder outside the repository — with only
 * what the docs say: README's install line, then getting-started.md, health-and-metrics.md and
 * testing.md, whose `npm install` lines are installed and whose files (```ts file=…) are written
 * as they stand. Versions are pinned to the repository's own (so npm finds them in its cache:
 * --prefer-offline). Each step runs against the local authority: the first token (with no optional
 * peer installed, the root entry's declarations checked with skipLibCheck false), the whole app
 * compiled with `strict` and `skipLibCheck: false`, an API called through each calling entry,
 * the health endpoint and /metrics of the server, and `npx jest` with testing.md's config.
 */
describe('the newcomer path: the packed package in an app outside the repository', () => {
  let dir: string;
  let authority: DevAuthority;
  let tarball: string;
  /** What getting-started.md's "against the local authority" exports, for this authority. */
  let env: Record<string, string>;
  let clientId: string;
  let shipped: string[];

  /** Runs the app's tsc on `project`; on failure, throws with tsc's diagnostics (its stdout). */
  const tsc = async (project: string, ...flags: string[]) => {
    try {
      await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project, ...flags], {
        cwd: dir,
      });
    } catch (e) {
      const { stdout, message } = e as { stdout?: string; message: string };
      throw new Error(`tsc -p ${project} failed:\n${stdout || message}`, { cause: e });
    }
  };

  /** Adds the packages of `installs` to package.json (pinned, the tarball for the package) and installs. */
  const install = async (installs: NpmInstall[]) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    for (const { dev, packages } of installs) {
      const field = dev ? 'devDependencies' : 'dependencies';
      for (const spec of packages) {
        if (spec.endsWith('.tgz'))
          manifest.dependencies['nest-client-credentials'] = `file:${tarball}`;
        else manifest[field][packageName(spec)] = installedVersion(packageName(spec));
      }
    }
    await writeFile(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
    // From the npm cache when it has them (the repository's own install filled it).
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: dir,
        timeout: STEP_MS,
      },
    );
  };

  const writeFiles = async (files: Map<string, string>) => {
    for (const [path, content] of files) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
  };

  /** Runs `node <script>` in the app with getting-started.md's environment only. */
  const node = (script: string) =>
    run(process.execPath, [script], {
      cwd: dir,
      timeout: 120_000,
      env: { PATH: process.env.PATH, ...env },
    });

  const docFiles = new Map<string, string>();

  beforeAll(async () => {
    for (const doc of DOCS)
      for (const [path, content] of filesOf(doc)) {
        if (docFiles.has(path)) throw new Error(`${doc} writes ${path} again`);
        docFiles.set(path, content);
      }
    dir = await mkdtemp(join(tmpdir(), 'outside-app-'));
    authority = await startDevAuthority();
    const tenant = authority.createTenant();
    const app = tenant.createApp();
    clientId = app.clientId;
    env = {
      NODE_EXTRA_CA_CERTS: authority.caPath,
      AZURE_AUTHORITY_HOST: authority.url,
      AZURE_TENANT_ID: tenant.tenantId,
      AZURE_CLIENT_ID: app.clientId,
      AZURE_CLIENT_SECRET: app.addSecret(),
      API_SCOPE: authority.apiScope,
      API_BASE_URL: authority.apiUrl,
      API_PATH: 'data',
    };

    const { stdout } = await run(
      process.execPath,
      ['-r', '@swc-node/register', 'scripts/build-package.ts', '--pack'],
      { cwd: ROOT },
    );
    tarball = stdout.trim().split('\n').pop()!;
    // What the build shipped, read when it ran (docs may be added while the suite runs).
    shipped = [...shippedDocs().values()];
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'outside-app', private: true, dependencies: {}, devDependencies: {} }),
    );

    // README's install line, then the rest of getting-started.md's "Install".
    const readme = npmInstalls(section(read('README.md'), 'Install in your app')).filter((i) =>
      i.packages.some((p) => p.endsWith('.tgz')),
    );
    const first = npmInstalls(section(read('docs/getting-started.md'), 'Install'));
    expect(readme.map((i) => i.line)).toEqual(first.filter((i) => !i.dev).map((i) => i.line));
    await install(first);
    await writeFiles(new Map(FIRST_STEP.map((path) => [path, docFiles.get(path)!])));
  }, STEP_MS);

  afterAll(async () => {
    await authority?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ships the library, the local authority and the docs, whose links resolve in node_modules', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
    const files = stdout.trim().split('\n');
    expect(files).toContain('package/libs/client-credentials/src/index.d.ts');
    expect(files).toContain('package/libs/dev-authority/src/start.js');
    expect(files.filter((f) => f.startsWith('package/apps/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.md')).sort()).toEqual(
      shipped.map((f) => `package/${f}`).sort(),
    );

    const installed = join(dir, 'node_modules/nest-client-credentials');
    const dead: string[] = [];
    for (const doc of shipped)
      for (const link of links(readFileSync(join(installed, doc), 'utf8'))) {
        if (!isRelative(link.target)) continue;
        const target = posix.join(posix.dirname(doc), link.target.split('#')[0]);
        if (!existsSync(join(installed, target))) dead.push(`${doc}: ${link.target}`);
      }
    expect(dead).toEqual([]);
  });

  it(
    'gets a first token the API accepts: getting-started.md, compiled strict with skipLibCheck false, no optional peer',
    async () => {
      for (const peer of OPTIONAL_PEERS)
        expect(existsSync(join(dir, 'node_modules', peer))).toBe(false);
      // src/main.ts imports the root entry: every declaration file it reaches is checked, and none
      // may name an optional peer.
      await tsc('tsconfig.json', '--skipLibCheck', 'false');
      const { stdout } = await node('dist/main.js');
      const [token, call] = stdout.trim().split('\n');
      expect(token).toMatch(/^token from the network, expires \d{4}-\d\d-\d\dT[\d:.]+Z$/);
      expect(call).toBe(`GET ${authority.apiUrl}/data -> 200`);
      expect(authority.countTokenRequests({ clientId, outcome: 'ok' })).toBe(1);
      // A missing variable stops app.init() (the module reads the environment there, as its
      // comment says), naming the variable: not an exception thrown when app.module is imported.
      const missing = await run(process.execPath, ['dist/main.js'], {
        cwd: dir,
        timeout: 120_000,
        env: { PATH: process.env.PATH, ...env, AZURE_CLIENT_SECRET: '', NO_COLOR: '1' },
      }).catch((e: { code?: number; stderr?: string; stdout?: string }) => e);
      expect(missing).toMatchObject({ code: 1 });
      const printed = `${missing.stdout}${missing.stderr}`;
      expect(printed).toContain(
        '[ExceptionHandler] ConfigurationError: Invalid ClientCredentialsModule options:',
      );
      expect(printed).toContain(
        'AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE: set at least one',
      );
      expect(authority.countTokenRequests({ clientId })).toBe(1);
    },
    STEP_MS,
  );

  describe('with the optional peers and test tools the docs list', () => {
    beforeAll(async () => {
      const firstStep = new Set(
        npmInstalls(section(read('docs/getting-started.md'), 'Install')).map((i) => i.line),
      );
      // testing.md's vitest line is left out: vitest is no dependency of this repository (not in
      // npm's cache), and that set-up is checked by hand (testing.md says when).
      const rest = DOCS.flatMap((doc) => npmInstalls(read(doc))).filter(
        (i) => !firstStep.has(i.line) && !i.packages.includes('vitest'),
      );
      await install(rest);
      await writeFiles(docFiles);
    }, STEP_MS);

    it(
      'compiles, app and tests, with strict and skipLibCheck false',
      async () => {
        // tsconfig.spec.json (testing.md) covers src/ and test/; tsconfig.json emits dist/.
        await tsc('tsconfig.spec.json', '--skipLibCheck', 'false');
        await tsc('tsconfig.json');
      },
      STEP_MS,
    );

    it(
      'calls the API through each calling entry with one token request, printing what the doc shows',
      async () => {
        authority.resetLog();
        const { stdout } = await node('dist/call-apis.js');
        expect(stdout.trim()).toBe(
          outputAfter('docs/getting-started.md', 'src/call-apis.ts').trim(),
        );
        expect(authority.countTokenRequests({ clientId, outcome: 'ok' })).toBe(1);
      },
      STEP_MS,
    );

    it(
      'serves /health/ready and /metrics: health-and-metrics.md',
      async () => {
        const server = spawn(process.execPath, ['dist/server.js'], {
          cwd: dir,
          env: { PATH: process.env.PATH, ...env, PORT: '0' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const exited = new Promise((resolve) => server.once('exit', resolve));
        try {
          let out = '';
          let err = '';
          server.stderr.on('data', (d: Buffer) => (err += d.toString()));
          const url = await new Promise<string>((resolve, reject) => {
            server.stdout.on('data', (d: Buffer) => {
              out += d.toString();
              const listening = /listening on (\S+)/.exec(out);
              if (listening && out.includes('\nready'))
                resolve(listening[1].replace('[::1]', '127.0.0.1'));
            });
            server.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}${err}`)));
          });
          const ready = await fetchText(`${url}/health/ready`);
          expect(ready.status).toBe(200);
          expect(JSON.parse(ready.body)).toMatchObject({
            status: 'ok',
            info: { credentials: { status: 'up', credentials: { default: { status: 'up' } } } },
          });
          const metrics = await fetchText(`${url}/metrics`);
          expect(metrics.status).toBe(200);
          const sample = (name: string) =>
            metrics.body
              .split('\n')
              .find((l) => l.startsWith(`${name}{`) && l.includes('credential="default"'));
          expect(sample('client_credentials_cache_misses_total')).toMatch(/ 1$/);
          expect(sample('client_credentials_token_requests_total')).toMatch(/outcome="ok".* 1$/);
        } finally {
          server.kill('SIGTERM');
          await exited;
        }
      },
      STEP_MS,
    );

    it(
      "runs testing.md's tests with its jest config",
      async () => {
        const specs = [...docFiles.keys()].filter((f) => /spec\.ts$/.test(f));
        const tests = specs.reduce(
          (n, f) => n + (docFiles.get(f)!.match(/^\s*it\(/gm)?.length ?? 0),
          0,
        );
        expect(tests).toBeGreaterThanOrEqual(3);
        const { stdout, stderr } = await run(
          process.execPath,
          ['node_modules/jest/bin/jest.js', '--ci'],
          { cwd: dir, timeout: STEP_MS, env: { PATH: process.env.PATH, HOME: process.env.HOME } },
        ).catch((e: { stdout: string; stderr: string }) => {
          throw new Error(`jest failed:\n${e.stderr}${e.stdout}`);
        });
        expect(`${stdout}${stderr}`).toContain(`Tests:       ${tests} passed, ${tests} total`);
        expect(`${stdout}${stderr}`).toContain(
          `Test Suites: ${specs.length} passed, ${specs.length} total`,
        );
      },
      STEP_MS,
    );
  });
});

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}
