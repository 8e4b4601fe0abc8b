import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/**
 * The package as a user gets it: built and packed (npm pack), installed with the peers it declares
 * into a new Nest app in a folder outside the repository — without @nestjs/terminus, @keyv/redis or
 * @opentelemetry/api — compiled with tsc --strict, and run against the local authority: it gets a
 * token the protected API accepts, then exits.
 */
describe('the packed package in an app outside the repository', () => {
  let dir: string;
  let authority: DevAuthority;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outside-app-'));
    authority = await startDevAuthority();
  });
  afterAll(async () => {
    await authority?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs, compiles with --strict, gets a token and calls the API', async () => {
    const { stdout } = await run(
      process.execPath,
      ['-r', '@swc-node/register', 'scripts/build-package.ts', '--pack'],
      { cwd: ROOT },
    );
    const tarball = stdout.trim().split('\n').pop()!;
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
    const installed = await readdir(join(dir, 'node_modules/@nestjs'));
    expect(installed).not.toContain('terminus');
    expect(await readdir(join(dir, 'node_modules/@keyv'))).not.toContain('redis');
    expect(await readdir(join(dir, 'node_modules'))).not.toContain('@opentelemetry');

    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
      cwd: dir,
    });

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
  }, 300_000);
});
