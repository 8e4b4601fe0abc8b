import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDevAuthority, type DevAuthority } from '@app/dev-authority';

const run = promisify(execFile);
const ROOT = join(__dirname, '../..');

/** The minimal user app: the module from the package's main entry, one token, one API call. */
const MAIN_TS = `import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientCredentialsModule, TokenService } from 'nest-client-credentials';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(\`\${name} is not set\`);
  return value;
};
const ca = readFileSync(env('AUTHORITY_CA_PATH'), 'utf8');

@Module({
  imports: [
    ClientCredentialsModule.forRoot({
      credentials: {
        api: {
          authorityHost: env('AUTHORITY_URL'),
          tenantId: env('AZURE_TENANT_ID'),
          clientId: env('AZURE_CLIENT_ID'),
          ca,
          sources: [{ type: 'secret', secret: env('AZURE_CLIENT_SECRET') }],
        },
      },
    }),
  ],
})
class AppModule {}

function get(url: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { authorization }, ca }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const tokens = app.get(TokenService);
  const authorization = await tokens.getAuthorizationHeader(env('API_SCOPE'));
  console.log(\`api status \${await get(\`\${env('API_URL')}/data\`, authorization)}\`);
  await app.close();
}
main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
`;

/** The package's optional peers: none of them is installed in the outside app. */
const OPTIONAL_PEERS = [
  '@keyv/redis',
  '@nestjs/terminus',
  '@opentelemetry/api',
  'axios',
  '@peculiar/x509',
  'pkcs11js',
  '@azure/keyvault-keys',
];

/**
 * The package as a user gets it: built and packed (npm pack), installed with the peers it declares
 * into a new Nest app in a folder outside the repository — without any of its optional peers
 * (@nestjs/terminus, @keyv/redis, @opentelemetry/api, axios, @peculiar/x509, pkcs11js,
 * @azure/keyvault-keys) — compiled with
 * tsc --strict, and run against the local authority: it gets a token the protected API accepts,
 * then exits. The same app also type-checks the package's declarations (`skipLibCheck: false`):
 * the root entry's types must not name an optional peer.
 */
describe('the packed package in an app outside the repository', () => {
  let dir: string;
  let authority: DevAuthority;
  let tarball: string;

  /** Runs the app's tsc on `project`; on failure, throws with tsc's diagnostics (its stdout). */
  const tsc = async (project: string) => {
    try {
      await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], {
        cwd: dir,
      });
    } catch (e) {
      const { stdout, message } = e as { stdout?: string; message: string };
      throw new Error(`tsc -p ${project} failed:\n${stdout || message}`, { cause: e });
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outside-app-'));
    authority = await startDevAuthority();

    const { stdout } = await run(
      process.execPath,
      ['-r', '@swc-node/register', 'scripts/build-package.ts', '--pack'],
      { cwd: ROOT },
    );
    tarball = stdout.trim().split('\n').pop()!;
    const version = (name: string) =>
      (
        JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'outside-app',
        private: true,
        dependencies: {
          'nest-client-credentials': `file:${tarball}`,
          '@nestjs/common': version('@nestjs/common'),
          '@nestjs/core': version('@nestjs/core'),
          'reflect-metadata': version('reflect-metadata'),
          rxjs: version('rxjs'),
        },
        devDependencies: {
          typescript: version('typescript'),
          '@types/node': version('@types/node'),
        },
      }),
    );
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          // What a new Nest app on TypeScript 6 compiles with: CommonJS output, exports maps honoured.
          module: 'nodenext',
          target: 'ES2022',
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          skipLibCheck: true,
          types: ['node'],
          rootDir: 'src',
          outDir: 'dist',
        },
        include: ['src'],
      }),
    );
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src/main.ts'), MAIN_TS);

    // From the npm cache when it has them (the repository's own install filled it).
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: dir,
        timeout: 150_000,
      },
    );
  }, 300_000);
  afterAll(async () => {
    await authority?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('packs the local authority from libs/dev-authority and no file under apps/', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 });
    const files = stdout.trim().split('\n');
    expect(files).toContain('package/libs/client-credentials/src/index.d.ts');
    expect(files).toContain('package/libs/dev-authority/src/start.js');
    expect(files.filter((f) => f.startsWith('package/apps/'))).toEqual([]);
  });

  it('type-checks its declarations with skipLibCheck false and no optional peer installed', async () => {
    for (const peer of OPTIONAL_PEERS)
      expect(existsSync(join(dir, 'node_modules', peer))).toBe(false);
    await writeFile(
      join(dir, 'tsconfig.libcheck.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        compilerOptions: { strict: true, skipLibCheck: false, noEmit: true },
      }),
    );
    // src/main.ts imports the root entry: every declaration file it reaches is checked.
    await tsc('tsconfig.libcheck.json');
  }, 120_000);

  it('installs, compiles with --strict, gets a token and calls the API', async () => {
    const installed = await readdir(join(dir, 'node_modules/@nestjs'));
    expect(installed).not.toContain('terminus');
    expect(await readdir(join(dir, 'node_modules/@keyv'))).not.toContain('redis');
    expect(await readdir(join(dir, 'node_modules'))).not.toContain('@opentelemetry');

    await tsc('tsconfig.json');

    const tenant = authority.createTenant();
    const app = tenant.createApp();
    const out = await run(process.execPath, ['dist/main.js'], {
      cwd: dir,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        AUTHORITY_URL: authority.url,
        AUTHORITY_CA_PATH: authority.caPath,
        AZURE_TENANT_ID: tenant.tenantId,
        AZURE_CLIENT_ID: app.clientId,
        AZURE_CLIENT_SECRET: app.addSecret(),
        API_SCOPE: authority.apiScope,
        API_URL: authority.apiUrl,
      },
    });
    expect(out.stdout.trim()).toBe('api status 200');
    expect(authority.countTokenRequests({ clientId: app.clientId, outcome: 'ok' })).toBe(1);
  }, 120_000);
});
