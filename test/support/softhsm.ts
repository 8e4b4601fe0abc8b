import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe
import * as x509 from '@peculiar/x509';
import * as pkcs11js from 'pkcs11js';

const run = promisify(execFile);

/** Debian's SoftHSM2 module (package softhsm2, brought by scripts/test-prerequisites.sh). */
export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

/** A SoftHSM2 token in a folder of its own: never the system's token directory. */
export interface SoftHsm {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
  /** A file holding {@link pin}. */
  readonly pinFile: string;
  /** The test's own folder (PIN file, certificates). */
  readonly dir: string;
  /** Generates a key pair inside the token (private key sensitive, not extractable); its public key PEM. */
  generateKey(options: { label: string; id: string; type?: 'rsa' | 'ec' }): Promise<string>;
  /** Stores a certificate (DER) on the token with the key's id. */
  importCertificate(options: { label: string; id: string; der: Buffer }): Promise<void>;
  /** The private key's CKA_EXTRACTABLE and CKA_SENSITIVE, as the token reports them. */
  keyAttributes(label: string): Promise<{ extractable: boolean; sensitive: boolean }>;
  /** Destroys the certificate objects labelled `label` (to replace one with its renewal). */
  destroyCertificate(label: string): Promise<void>;
  /** Destroys the key pair labelled `label` (the private and the public key). */
  destroyKey(label: string): Promise<void>;
  /** Closes every session of the process on the token, which logs it out: what removing it does. */
  closeAllSessions(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Initialises a token of its own (a unique label) in the run's SoftHSM2 folder (SOFTHSM2_CONF, set
 * by jest's globalSetup, test/support/softhsm-setup.ts), with a user PIN; `close` deletes it. Key operations run
 * in this process through pkcs11js, sharing the module with the library's signer as one
 * application would: the module is initialised once per process and finalised by its last user.
 */
export async function startSoftHsm(name = 'daemon-test'): Promise<SoftHsm> {
  const conf = process.env.SOFTHSM2_CONF;
  const runDir = process.env.SOFTHSM2_TEST_DIR;
  if (conf === undefined || runDir === undefined) {
    throw new Error(
      "startSoftHsm: SOFTHSM2_CONF is not the test run's own (jest's globalSetup test/support/softhsm-setup.ts sets it) — refusing to touch the system's tokens",
    );
  }
  const tokenLabel = `${name}-${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(runDir, 'files-'));
  const pin = '246813';
  await run('softhsm2-util', [
    '--init-token',
    '--free',
    '--label',
    tokenLabel,
    '--so-pin',
    '97531',
    '--pin',
    pin,
  ]);
  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });

  /** `work` in a logged-in read/write session, initialising the module if no one else has. */
  const withSession = async <T>(work: (p: pkcs11js.PKCS11, session: Buffer) => T): Promise<T> => {
    const p = new pkcs11js.PKCS11();
    p.load(SOFTHSM_MODULE);
    let initialised = false;
    try {
      // As the library's signer does: the module must lock, signatures run on several threads.
      p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      initialised = true;
    } catch (e) {
      if (!String((e as Error).message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
    }
    try {
      const slot = p
        .C_GetSlotList(true)
        .find((s) => p.C_GetTokenInfo(s).label.trim() === tokenLabel)!;
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        try {
          p.C_Login(session, pkcs11js.CKU_USER, pin);
        } catch (e) {
          if (!String((e as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw e;
        }
        return work(p, session);
      } finally {
        p.C_CloseSession(session);
      }
    } finally {
      if (initialised) p.C_Finalize();
    }
  };
  const findByLabel = (p: pkcs11js.PKCS11, session: Buffer, label: string, cls: number) => {
    p.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    const found = p.C_FindObjects(session, 10);
    p.C_FindObjectsFinal(session);
    return found;
  };

  return {
    modulePath: SOFTHSM_MODULE,
    tokenLabel,
    pin,
    pinFile,
    dir,
    generateKey: ({ label, id, type = 'rsa' }) =>
      withSession((p, session) => {
        const common = [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
        ];
        const rsa = type === 'rsa';
        const { publicKey } = p.C_GenerateKeyPair(
          session,
          { mechanism: rsa ? pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN : pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: pkcs11js.CKA_VERIFY, value: true },
            ...(rsa
              ? [
                  { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
                  { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
                ]
              : // The DER OID of P-256 (prime256v1).
                [
                  {
                    type: pkcs11js.CKA_EC_PARAMS,
                    value: Buffer.from('06082a8648ce3d030107', 'hex'),
                  },
                ]),
          ],
          [
            ...common,
            { type: pkcs11js.CKA_SIGN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          ],
        );
        if (rsa) {
          const [n, e] = p.C_GetAttributeValue(session, publicKey, [
            { type: pkcs11js.CKA_MODULUS },
            { type: pkcs11js.CKA_PUBLIC_EXPONENT },
          ]);
          return publicPem({
            kty: 'RSA',
            n: n.value.toString('base64url'),
            e: e.value.toString('base64url'),
          });
        }
        const [point] = p.C_GetAttributeValue(session, publicKey, [
          { type: pkcs11js.CKA_EC_POINT },
        ]);
        // An OCTET STRING holding 04 ‖ x ‖ y.
        const raw = point.value.subarray(-65);
        return publicPem({
          kty: 'EC',
          crv: 'P-256',
          x: raw.subarray(1, 33).toString('base64url'),
          y: raw.subarray(33).toString('base64url'),
        });
      }),
    importCertificate: ({ label, id, der }) =>
      withSession((p, session) => {
        p.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
          { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
          { type: pkcs11js.CKA_VALUE, value: der },
          {
            type: pkcs11js.CKA_SUBJECT,
            value: Buffer.from(new x509.X509Certificate(der).subjectName.toArrayBuffer()),
          },
        ]);
      }),
    keyAttributes: (label) =>
      withSession((p, session) => {
        const [key] = findByLabel(p, session, label, pkcs11js.CKO_PRIVATE_KEY);
        const [x, s] = p.C_GetAttributeValue(session, key, [
          { type: pkcs11js.CKA_EXTRACTABLE },
          { type: pkcs11js.CKA_SENSITIVE },
        ]);
        return {
          extractable: x.value[0] === 1,
          sensitive: s.value[0] === 1,
        };
      }),
    destroyCertificate: (label) =>
      withSession((p, session) => {
        for (const o of findByLabel(p, session, label, pkcs11js.CKO_CERTIFICATE)) {
          p.C_DestroyObject(session, o);
        }
      }),
    destroyKey: (label) =>
      withSession((p, session) => {
        for (const cls of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
          for (const o of findByLabel(p, session, label, cls)) p.C_DestroyObject(session, o);
        }
      }),
    closeAllSessions: () =>
      withSession((p, session) => {
        const slot = p
          .C_GetSlotList(true)
          .find((s) => p.C_GetTokenInfo(s).label.trim() === tokenLabel)!;
        void session;
        p.C_CloseAllSessions(slot);
      }).catch((e: unknown) => {
        // Our own session was among those closed.
        if (!String((e as Error).message).includes('CKR_SESSION_HANDLE_INVALID')) throw e;
      }),
    async close() {
      await run('softhsm2-util', ['--delete-token', '--token', tokenLabel]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function publicPem(jwk: Record<string, string>): string {
  return createPublicKey({ key: jwk, format: 'jwk' }).export({
    type: 'spki',
    format: 'pem',
  }) as string;
}
