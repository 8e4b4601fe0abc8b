/**
 * `npm run bench:signers`: what a key held elsewhere adds to a token request. For each kind of
 * certificate source — a PEM key in the process, a key in a SoftHSM2 token (PKCS#11), a key in the
 * local authority's emulated Key Vault — N token requests, one at a time, each for a tenant not
 * asked before (so each needs a new assertion, hence a signature), against the local authority over
 * HTTPS; and, alone, N signatures of the same signer (for Key Vault: the SDK's sign with a cached
 * vault token). Target (issue 26): a signer's token request costs at most one signature round trip
 * more than a PEM key's. Also counts signatures against token requests over a cold sweep.
 */
import 'reflect-metadata';
import { writeFileSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, TokenService } from '../libs/client-credentials/src';
import type { CredentialSource } from '../libs/client-credentials/src';
import { Pkcs11Signer } from '../libs/client-credentials/src/signing/pkcs11-signer';
import { KeyVaultSigner } from '../libs/client-credentials/src/signing/key-vault-signer';
import { vaultTokenCredential } from '../libs/client-credentials/src/signing/vault-credential';
import { startDevAuthority } from '../libs/dev-authority/src';
import { multiTenantApp, scaled, table } from './support';

const N = scaled(200, 20);

// SoftHSM2 reads its configuration at C_Initialize from the environment: a folder of this run's.
const hsmDir = mkdtempSync(join(tmpdir(), 'bench-softhsm-'));
mkdirSync(join(hsmDir, 'tokens'));
writeFileSync(
  join(hsmDir, 'softhsm2.conf'),
  `directories.tokendir = ${join(hsmDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
);
process.env.SOFTHSM2_CONF = join(hsmDir, 'softhsm2.conf');
process.env.SOFTHSM2_TEST_DIR = hsmDir;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  // Imported after SOFTHSM2_CONF is set.
  const { startSoftHsm } = await import('../test/support/softhsm');
  const authority = await startDevAuthority({ requestLogSize: 0 });
  const hsm = await startSoftHsm('bench');
  try {
    const { home, app, tenants } = multiTenantApp(authority, 3 * N + 1);
    const pem = await app.addCertificate();
    const hsmKey = await hsm.generateKey({ label: 'bench-key', id: '01' });
    const hsmCertPath = join(hsm.dir, 'hsm.pem');
    writeFileSync(hsmCertPath, (await app.addCertificateForKey(hsmKey)).certificatePem);
    const vault = authority.createKeyVault({ tenantId: home.tenantId });
    const identity = authority.createManagedIdentity({ tenantId: home.tenantId, kind: 'user' });
    vault.grant(identity.objectId, ['sign']);
    const vaultKey = await vault.createKey('bench');
    const vaultCertPath = join(hsm.dir, 'vault.pem');
    writeFileSync(
      vaultCertPath,
      (await app.addCertificateForKey(vaultKey.publicKeyPem)).certificatePem,
    );
    process.env.IDENTITY_ENDPOINT = authority.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = authority.managedIdentity.header;

    const pkcs11 = {
      type: 'pkcs11' as const,
      modulePath: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      keyLabel: 'bench-key',
      pinFile: hsm.pinFile,
      certificatePath: hsmCertPath,
    };
    const keyVault = {
      type: 'key-vault' as const,
      keyId: vaultKey.keyId,
      credential: 'vault',
      certificatePath: vaultCertPath,
      ca: authority.caPem,
      disableChallengeResourceVerification: true,
    };
    const kinds: [string, CredentialSource][] = [
      [
        'PEM key (certificate)',
        { type: 'certificate', certificate: pem.certificatePem, privateKey: pem.privateKeyPem },
      ],
      ['SoftHSM2 (pkcs11)', pkcs11],
      ['emulated Key Vault (key-vault)', keyVault],
    ];
    const module = await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRoot({
          logger: { log() {}, warn() {}, error() {}, debug() {}, verbose() {} },
          credentials: {
            ...Object.fromEntries(
              kinds.map(([, source], i) => [
                `c${i}`,
                {
                  authorityHost: authority.url,
                  ca: authority.caPem,
                  tenantId: home.tenantId,
                  clientId: app.clientId,
                  sources: [source],
                },
              ]),
            ),
            vault: {
              authorityHost: authority.url,
              ca: authority.caPem,
              sources: [{ type: 'managed-identity', clientId: identity.clientId }],
            },
          },
        }),
      ],
    }).compile();
    const ctx = await module.init();
    const tokens = ctx.get(TokenService);

    // Signatures alone, with the same signers (a warm session / a cached vault token).
    const data = Buffer.from('header.payload'.repeat(40));
    const hsmSigner = new Pkcs11Signer(pkcs11);
    const vaultSigner = new KeyVaultSigner(keyVault, () =>
      vaultTokenCredential({
        name: 'vault',
        getAccessToken: (scopes, o) => tokens.getAccessToken(scopes, { ...o, credential: 'vault' }),
        getAccessTokenWithClaims: (scopes, claims, o) =>
          tokens.getAccessTokenWithClaims(scopes, claims, { ...o, credential: 'vault' }),
        forgetRefusedToken: (scopes, refused, o) =>
          tokens.forgetRefusedToken(scopes, refused, { ...o, credential: 'vault' }),
        tenantOf: () => tokens.tenantOf('vault'),
        // A managed identity: the token service serves its own tenant however the vault names it.
        tenantIdOf: () => undefined,
        isSingleTenant: () => tokens.isSingleTenant('vault'),
      }),
    );
    const signAlone = async (sign: () => Promise<unknown>) => {
      await sign();
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await sign();
        times.push(performance.now() - t);
      }
      return median(times);
    };
    const alone = [
      0,
      await signAlone(() => hsmSigner.sign(data, 'PS256')),
      await signAlone(() =>
        vaultSigner.sign(data, 'PS256', { signal: new AbortController().signal }),
      ),
    ];

    // Warm each credential (connections, the vault token), then N cold tenants each, in turn (so
    // that JIT warm-up and machine noise fall on every kind alike).
    for (let k = 0; k < kinds.length; k++) {
      await tokens.getAccessToken(authority.apiScope, { credential: `c${k}` });
    }
    const signaturesBefore = vault.signatures;
    let next = 1;
    const times: number[][] = kinds.map(() => []);
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < kinds.length; k++) {
        const tenantId = tenants[next++];
        const t = performance.now();
        await tokens.getAccessToken(authority.apiScope, { credential: `c${k}`, tenantId });
        times[k].push(performance.now() - t);
      }
    }
    const perRequest = times.map(median);
    const vaultSignatures = vault.signatures - signaturesBefore;
    const rows = kinds.map(([label], k) => {
      const extra = perRequest[k] - perRequest[0];
      return [
        label,
        ms(perRequest[k]),
        k === 0 ? '—' : ms(extra),
        k === 0 ? '—' : ms(alone[k]),
        k === 0 ? '—' : extra <= alone[k] * 1.25 + 0.5 ? 'yes' : 'no',
      ];
    });
    console.log(
      `Token request with a new assertion (median of ${N}, one at a time, Node ${process.version}):`,
    );
    for (const line of table(
      [
        'source',
        'token request, ms',
        'more than PEM, ms',
        'one signature alone, ms',
        '≤ one signature?',
      ],
      rows,
    )) {
      console.log(line);
    }
    console.log(
      `Key Vault signatures for its ${N} token requests of new tenants: ${vaultSignatures} (one per assertion; none twice).`,
    );
    await hsmSigner.close();
    await ctx.close();
  } finally {
    await hsm.close();
    await authority.close();
    rmSync(hsmDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
