import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAuthority } from '@app/dev-authority';
import type { ClientCredentialsModuleOptions, CredentialSource } from '@app/client-credentials';
import { useFixtures } from '../support/fixtures';
import { callApi, localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { sleep } from '../support/waiting';

const SUBJECT = 'system:serviceaccount:jobs:sync';

const [authority] = useFixtures(startDevAuthority);

/**
 * Every credential kind a daemon meets, and chains of them, against the local authority: its
 * Kubernetes-style issuer for workload identity and its App Service endpoint for managed identity.
 */
describe('Credential sources and fallback chains', () => {
  let app: TokenApp | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'cc-sources-'));
  const env = { ...process.env };

  beforeAll(() => {
    // msal's managed identity picks the App Service endpoint from these; never IMDS.
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;
  });
  afterEach(async () => {
    authority.faults.clear();
    await app?.close();
    app = undefined;
  });
  afterAll(() => {
    process.env = env;
    rmSync(dir, { recursive: true, force: true });
  });

  function newApp() {
    const tenant = authority.createTenant();
    return { tenantId: tenant.tenantId, reg: tenant.createApp() };
  }

  async function start(
    tenantId: string | undefined,
    clientId: string | undefined,
    sources: CredentialSource[],
    extra: Partial<ClientCredentialsModuleOptions> = {},
  ) {
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenantId, clientId, sources),
      },
      ...extra,
    });
    return app.tokens;
  }

  /** Writes a file the way a kubelet does: a new file renamed over the old one. */
  function writeAtomically(path: string, content: string): void {
    writeFileSync(`${path}.tmp`, content);
    renameSync(`${path}.tmp`, path);
  }

  const tokenEntries = (tenantId: string) =>
    authority.log.filter((e) => e.target === 'token' && e.tenantId === tenantId);

  it('workload identity: reads the federated token file, and the replaced file at the next request', async () => {
    const { tenantId, reg } = newApp();
    reg.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
    const file = join(dir, 'wi-token');
    writeAtomically(file, await authority.externalIssuer.mintToken({ subject: SUBJECT }));
    const tokens = await start(tenantId, reg.clientId, [
      { type: 'workload-identity', tokenFilePath: file },
    ]);

    const first = await tokens.getAccessToken(authority.apiScope);
    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${first.token}`)).toBe(200);

    // The platform rotates the file: a token for another subject is refused, proving it was read.
    writeAtomically(
      file,
      await authority.externalIssuer.mintToken({ subject: 'system:serviceaccount:jobs:other' }),
    );
    await expect(
      tokens.getAccessToken(authority.apiScope, { forceRefresh: true }),
    ).rejects.toMatchObject({
      code: 'credential_rejected',
    });
    writeAtomically(file, await authority.externalIssuer.mintToken({ subject: SUBJECT }));
    await sleep(250); // past the cool-down of the failure above (at most retry.initialDelayMs)
    expect((await tokens.getAccessToken(authority.apiScope, { forceRefresh: true })).source).toBe(
      'network',
    );
    expect(tokenEntries(tenantId).map((e) => e.outcome)).toEqual(['ok', 'error', 'ok']);
    expect(tokenEntries(tenantId).map((e) => e.errorCode)).toEqual([undefined, 700213, undefined]);
  }, 20_000);

  it('workload identity: takes the file from AZURE_FEDERATED_TOKEN_FILE by default', async () => {
    const { tenantId, reg } = newApp();
    reg.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
    const file = join(dir, 'wi-env-token');
    writeAtomically(file, await authority.externalIssuer.mintToken({ subject: SUBJECT }));
    process.env.AZURE_FEDERATED_TOKEN_FILE = file;
    try {
      const tokens = await start(tenantId, reg.clientId, [{ type: 'workload-identity' }]);
      await expect(tokens.getAccessToken(authority.apiScope)).resolves.toMatchObject({
        source: 'network',
      });
    } finally {
      delete process.env.AZURE_FEDERATED_TOKEN_FILE;
    }
  });

  it.each(['system', 'user'] as const)(
    'managed identity (%s-assigned) gets tokens the API accepts, without tenant or client id',
    async (kind) => {
      const { tenantId } = newApp();
      const mi = authority.createManagedIdentity({ tenantId, kind, roles: ['Data.Read'] });
      const tokens = await start(undefined, undefined, [
        kind === 'system'
          ? { type: 'managed-identity' }
          : { type: 'managed-identity', clientId: mi.clientId },
      ]);

      const token = await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope);

      expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
      expect(
        authority.log.filter((e) => e.target === 'managed-identity' && e.clientId === mi.clientId),
      ).toHaveLength(1);
    },
  );

  it('managed identity as the federated credential of an app (keyless)', async () => {
    const { tenantId, reg } = newApp();
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    reg.addFederatedCredential({
      issuer: `${authority.url}/${tenantId}/v2.0`,
      subject: mi.objectId,
    });
    const tokens = await start(tenantId, reg.clientId, [
      { type: 'managed-identity-assertion', managedIdentityClientId: mi.clientId },
    ]);

    const token = await tokens.getAccessToken(authority.apiScope);

    expect(await callApi(authority.apiUrl, authority.caPem, `Bearer ${token.token}`)).toBe(200);
    expect(tokenEntries(tenantId).map((e) => [e.clientId, e.credentialKind, e.outcome])).toEqual([
      [reg.clientId, 'federated', 'ok'],
    ]);
  });

  it('a managed identity endpoint that hangs gives a typed error within the bound', async () => {
    const { tenantId } = newApp();
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    authority.faults.add({ target: 'managed-identity', kind: 'latency', latencyMs: 5000 });
    const tokens = await start(
      undefined,
      undefined,
      [{ type: 'managed-identity', clientId: mi.clientId }],
      {
        timeouts: { managedIdentityMs: 200, acquireMs: 3000 },
        retry: { maxAttempts: 1 },
      },
    );

    await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'timeout',
      transient: true,
    });
  });

  it('a chain whose first source is missing uses the next, says why once, and returns to the first', async () => {
    const { tenantId, reg } = newApp();
    reg.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
    const file = join(dir, 'not-yet');
    const tokens = await start(
      tenantId,
      reg.clientId,
      [
        { type: 'workload-identity', tokenFilePath: file },
        { type: 'secret', secret: reg.addSecret() },
      ],
      { retry: { sourceCoolDownMs: 300 } },
    );

    await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(tokenEntries(tenantId).map((e) => e.credentialKind)).toEqual(['secret', 'secret']);
    const skips = app!.logger.lines.filter((l) =>
      l.message.includes("source 'workload-identity#0' skipped"),
    );
    expect(skips).toEqual([
      {
        level: 'warn',
        message: `Credential 'api': source 'workload-identity#0' skipped, moving on to the next; tried again in 300 ms. cannot read '${file}' (ENOENT) (at start-up)`,
      },
    ]);
    expect(tokens.getStats().skippedSources?.['workload-identity#0']?.reason).toContain('ENOENT');

    // The file appears (the pod got its token): after the cool-down the first source is used again.
    writeAtomically(file, await authority.externalIssuer.mintToken({ subject: SUBJECT }));
    await sleep(350);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(tokenEntries(tenantId).map((e) => e.credentialKind)).toEqual([
      'secret',
      'secret',
      'federated',
    ]);
    expect(tokens.getStats().skippedSources).toEqual({});
  });

  // A FIFO without a writer (or a hung mount) blocked fs.readFile, and one of libuv's four threads,
  // for ever: the credential never answered again, nor did the process's fs and dns.lookup.
  (process.platform === 'win32' ? it.skip : it)(
    'a token file replaced by a FIFO moves the chain on, and leaves libuv free',
    async () => {
      const { tenantId, reg } = newApp();
      reg.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
      const file = join(dir, 'fifo-later');
      writeFileSync(file, await authority.externalIssuer.mintToken({ subject: SUBJECT }));
      const tokens = await start(
        tenantId,
        reg.clientId,
        [
          { type: 'workload-identity', tokenFilePath: file },
          { type: 'secret', secret: reg.addSecret() },
        ],
        { timeouts: { acquireMs: 3000 }, retry: { maxAttempts: 1 } },
      );
      await tokens.getAccessToken(authority.apiScope);
      execFileSync('mkfifo', [`${file}.fifo`]);
      renameSync(`${file}.fifo`, file);

      for (let i = 0; i < 5; i++) {
        await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
      }

      expect(tokenEntries(tenantId).map((e) => e.credentialKind)).toEqual([
        'federated',
        ...Array(5).fill('secret'),
      ]);
      expect(tokens.getStats().skippedSources?.['workload-identity#0']?.reason).toContain(
        `cannot read '${file}' (not a regular file)`,
      );
      await expect(readFile(__filename, 'utf8')).resolves.toContain('FIFO');
    },
  );

  it('a chain moves on from a managed identity endpoint that hangs (as IMDS does off Azure)', async () => {
    const { tenantId, reg } = newApp();
    const mi = authority.createManagedIdentity({ tenantId, kind: 'user' });
    authority.faults.add({ target: 'managed-identity', kind: 'latency', latencyMs: 5000 });
    const tokens = await start(
      tenantId,
      reg.clientId,
      [
        { type: 'managed-identity-assertion', managedIdentityClientId: mi.clientId },
        { type: 'secret', secret: reg.addSecret() },
      ],
      { timeouts: { managedIdentityMs: 200 } },
    );

    await expect(tokens.getAccessToken(authority.apiScope)).resolves.toMatchObject({
      source: 'network',
    });
    expect(tokenEntries(tenantId).map((e) => e.credentialKind)).toEqual(['secret']);
    expect(tokens.getStats().skippedSources?.['managed-identity-assertion#0']?.reason).toContain(
      'within 200 ms',
    );
  });

  it('a getAssertion callback that throws reaches the caller as assertion_failed, its text without credentials', async () => {
    const { tenantId, reg } = newApp();
    // An HTTP client's error often quotes the request: a SAS URL, the token it sent.
    const jwt = await authority.externalIssuer.mintToken({ subject: SUBJECT });
    const tokens = await start(tenantId, reg.clientId, [
      {
        type: 'assertion',
        getAssertion: () => {
          throw new Error(`signing service unavailable: GET /sign?sig=SeCrEtSaS with ${jwt}\n  at`);
        },
      },
    ]);

    await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'assertion_failed',
      message: expect.stringContaining(
        "The getAssertion callback of source 'assertion#0' failed: signing service unavailable: GET /sign?sig=[redacted] with [token].",
      ),
    });
    expect(tokenEntries(tenantId)).toEqual([]);
    const stats = JSON.stringify(tokens.getStats());
    expect(stats).toContain('sig=[redacted]');
    expect(stats).not.toContain('SeCrEtSaS');
    expect(stats).not.toContain(jwt);
  });

  it('a getAssertion callback that never settles once: the caller gets its token from the next attempt, within acquireMs', async () => {
    const { tenantId, reg } = newApp();
    reg.addFederatedCredential({ issuer: authority.externalIssuer.url, subject: SUBJECT });
    let calls = 0;
    const tokens = await start(
      tenantId,
      reg.clientId,
      [
        {
          type: 'assertion',
          getAssertion: () =>
            ++calls === 1
              ? new Promise<string>(() => undefined)
              : authority.externalIssuer.mintToken({ subject: SUBJECT }),
        },
      ],
      { timeouts: { requestMs: 300, acquireMs: 5000 } },
    );

    const token = await tokens.getAccessToken(authority.apiScope);

    expect(token.source).toBe('network');
    expect(calls).toBe(2);
    expect(tokenEntries(tenantId).map((e) => e.outcome)).toEqual(['ok']);
  });

  it('a getAssertion callback that never settles moves the chain on to its next source', async () => {
    const { tenantId, reg } = newApp();
    const tokens = await start(
      tenantId,
      reg.clientId,
      [
        { type: 'assertion', getAssertion: () => new Promise<string>(() => undefined) },
        { type: 'secret', secret: reg.addSecret() },
      ],
      { timeouts: { requestMs: 300 } },
    );

    await tokens.getAccessToken(authority.apiScope);

    expect(tokenEntries(tenantId).map((e) => e.credentialKind)).toEqual(['secret']);
    expect(tokens.getStats().skippedSources?.['assertion#0']?.reason).toContain(
      "The getAssertion callback of source 'assertion#0' did not settle within 300 ms",
    );
  });

  it('a chain whose first source is rejected uses the next and leaves the first alone for its cool-down', async () => {
    const { tenantId, reg } = newApp();
    const tokens = await start(tenantId, reg.clientId, [
      { type: 'secret', secret: 'revoked-secret' },
      { type: 'secret', secret: reg.addSecret() },
    ]);

    await tokens.getAccessToken(authority.apiScope);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(tokenEntries(tenantId).map((e) => [e.errorCode, e.outcome])).toEqual([
      [7000215, 'error'],
      [undefined, 'ok'],
      [undefined, 'ok'],
    ]);
  });
});
