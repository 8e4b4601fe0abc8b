import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthIndicatorService } from '@nestjs/terminus';
import { startDevAuthority } from '@app/dev-authority';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import { useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';

const [authority] = useFixtures(startDevAuthority);

/**
 * A certificate file rotated on disk, as Key Vault's CSI driver, cert-manager or a script does it:
 * the new certificate is used at the next token request, and a replacement that cannot be used is
 * reported once while the previous certificate keeps signing.
 */
describe('Certificate file rotation', () => {
  let app: TokenApp | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'cc-rotation-'));

  afterEach(async () => {
    jest.restoreAllMocks();
    await app?.close();
    app = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a file the way a kubelet does: a new file renamed over the old one. */
  function writeAtomically(path: string, content: string): void {
    writeFileSync(`${path}.tmp`, content);
    renameSync(`${path}.tmp`, path);
  }

  async function start(file: string) {
    const tenant = authority.createTenant();
    const reg = tenant.createApp();
    const a = await reg.addCertificate();
    writeAtomically(file, a.certificatePem + a.privateKeyPem);
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'certificate', certificatePath: file },
        ]),
      },
    });
    const sent = () =>
      authority.log
        .filter((e) => e.target === 'token' && e.tenantId === tenant.tenantId)
        .map((e) => [e.outcome, e.certificateThumbprint]);
    return { reg, a, tokens: app.tokens, sent };
  }

  it('a certificate replaced on disk is used at the next request, without a restart', async () => {
    const file = join(dir, 'rotating.pem');
    const { reg, a, tokens, sent } = await start(file);
    await tokens.getAccessToken(authority.apiScope);

    // Rotation: the old certificate is removed from the app, a new one registered and deployed.
    reg.removeCredentials();
    const b = await reg.addCertificate();
    writeAtomically(file, b.certificatePem + b.privateKeyPem);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent()).toEqual([
      ['ok', a.thumbprintSha256],
      ['ok', b.thumbprintSha256],
    ]);
  });

  it('a replacement that cannot be used: the old certificate signs, one warning, one read per version; a good one clears it', async () => {
    const file = join(dir, 'bad-rotation.pem');
    const { reg, a, tokens, sent } = await start(file);
    const health = () => {
      const indicator = new ClientCredentialsHealthIndicator(tokens, new HealthIndicatorService());
      const result = indicator.isHealthy('c').c as unknown as {
        credentials: { api: { status: string; reason?: string } };
      };
      return result.credentials.api;
    };
    await tokens.getAccessToken(authority.apiScope);
    // Each read of the file opens it (a bounded read: credentials/sources/bounded-file.ts).
    const opened = jest.spyOn(fsPromises, 'open');
    const reads = () => opened.mock.calls.filter(([path]) => path === file).length;

    // The new certificate deployed with the old key: a file that can never be loaded. Written a
    // minute ago (the copy is over): not a file caught half-written.
    const b = await reg.addCertificate();
    writeAtomically(file, b.certificatePem + a.privateKeyPem);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(file, aMinuteAgo, aMinuteAgo);
    for (let i = 0; i < 3; i++) {
      await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    }

    expect(sent()).toEqual(Array.from({ length: 4 }, () => ['ok', a.thumbprintSha256]));
    expect(reads()).toBe(1);
    const warnings = app!.logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toEqual([
      {
        level: 'warn',
        message: expect.stringContaining(
          `Credential 'api': source 'certificate#0': the certificate file '${file}' was replaced by one that cannot be used: the private key does not belong to the certificate`,
        ) as unknown,
      },
    ]);
    expect(app!.logger.text).not.toContain('PRIVATE KEY');
    const problems = tokens.getStats().sourceProblems;
    expect(Object.keys(problems ?? {})).toEqual(['certificate#0']);
    expect(problems?.['certificate#0'].reason).toContain(`x5t#S256 ${thumbprintOf(a)}`);
    expect(health()).toMatchObject({
      status: 'degraded',
      reason: expect.stringContaining(`source certificate#0: the certificate file '${file}'`),
    });

    // A usable file replaces it: its certificate signs at the next request; the report clears.
    const c = await reg.addCertificate();
    writeAtomically(file, c.certificatePem + c.privateKeyPem);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent().slice(4)).toEqual([
      ['ok', c.thumbprintSha256],
      ['ok', c.thumbprintSha256],
    ]);
    expect(reads()).toBe(2);
    expect(tokens.getStats().sourceProblems).toBeUndefined();
    expect(health().status).toBe('up');
    expect(app!.logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(app!.logger.text).toContain("source 'certificate#0' is usable again");
  });

  it('an expired replacement is not adopted: the valid certificate signs, one warning', async () => {
    const file = join(dir, 'expired-rotation.pem');
    const { reg, a, tokens, sent } = await start(file);
    await tokens.getAccessToken(authority.apiScope);

    // A stale backup restored over the good file: it loads, but its certificate expired yesterday.
    const b = await reg.addCertificate({ expiresAt: new Date(Date.now() - 86_400_000) });
    writeAtomically(file, b.certificatePem + b.privateKeyPem);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent()).toEqual(Array.from({ length: 3 }, () => ['ok', a.thumbprintSha256]));
    expect(app!.logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: expect.stringMatching(
          `the certificate file '${file}' was replaced by one that cannot be used: its certificate expired on \\S+ \\(valid from \\S+\\)`,
        ) as unknown,
      },
    ]);
    expect(tokens.getStats().sourceProblems?.['certificate#0'].reason).toContain(
      `x5t#S256 ${thumbprintOf(a)}`,
    );
    expect(tokens.getStats().certificateNotAfter!.getTime()).toBeGreaterThan(Date.now());
  });

  it('a replacement not valid yet (a pre-staged rotation) is adopted at the first request after its start', async () => {
    const file = join(dir, 'prestaged-rotation.pem');
    const { reg, a, tokens, sent } = await start(file);
    await tokens.getAccessToken(authority.apiScope);

    // Valid from a whole second (X.509 times have no fractions) one to two seconds from now.
    const validFrom = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const b = await reg.addCertificate({ validFrom });
    writeAtomically(file, b.certificatePem + b.privateKeyPem);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(tokens.getStats().sourceProblems?.['certificate#0'].reason).toContain(
      `its certificate is not valid yet: valid from ${validFrom.toISOString()}`,
    );

    await new Promise((resolve) => setTimeout(resolve, validFrom.getTime() - Date.now() + 100));
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent()).toEqual([
      ['ok', a.thumbprintSha256],
      ['ok', a.thumbprintSha256],
      ['ok', b.thumbprintSha256],
    ]);
    expect(app!.logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(tokens.getStats().sourceProblems).toBeUndefined();
    expect(app!.logger.text).toContain("source 'certificate#0' is usable again");
  });

  it('a file read half-written is not reported; the finished file is used at the next request', async () => {
    const file = join(dir, 'half-written.pem');
    const { reg, a, tokens, sent } = await start(file);
    await tokens.getAccessToken(authority.apiScope);

    // Caught mid-copy: the certificate and half of its key. Its mtime ahead of the clock keeps it
    // "just written" however slowly this test runs.
    const b = await reg.addCertificate();
    const pem = b.certificatePem + b.privateKeyPem;
    writeFileSync(file, pem.slice(0, pem.length - 400));
    const soon = new Date(Date.now() + 600_000);
    utimesSync(file, soon, soon);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    writeFileSync(file, pem);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent()).toEqual([
      ['ok', a.thumbprintSha256],
      ['ok', a.thumbprintSha256],
      ['ok', b.thumbprintSha256],
    ]);
    expect(app!.logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(tokens.getStats().sourceProblems).toBeUndefined();
  });

  it('a rotation rolled back — the file in use moved back in place — clears the report', async () => {
    const file = join(dir, 'rolled-back.pem');
    const { tokens, sent, a } = await start(file);
    await tokens.getAccessToken(authority.apiScope);

    // The good file kept aside, a bad one deployed (written a minute ago: not half-written)…
    renameSync(file, `${file}.bak`);
    writeFileSync(file, 'not a certificate');
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(file, aMinuteAgo, aMinuteAgo);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });
    expect(Object.keys(tokens.getStats().sourceProblems ?? {})).toEqual(['certificate#0']);

    // …and moved back: the very file in use (same inode, time and size).
    renameSync(`${file}.bak`, file);
    await tokens.getAccessToken(authority.apiScope, { forceRefresh: true });

    expect(sent()).toEqual(Array.from({ length: 3 }, () => ['ok', a.thumbprintSha256]));
    expect(tokens.getStats().sourceProblems).toBeUndefined();
    expect(app!.logger.text).toContain("source 'certificate#0' is usable again");
  });
});

/** The `x5t#S256` of a certificate the authority issued: base64url of its SHA-256 thumbprint. */
function thumbprintOf(certificate: { thumbprintSha256: string }): string {
  return Buffer.from(certificate.thumbprintSha256, 'hex').toString('base64url');
}
