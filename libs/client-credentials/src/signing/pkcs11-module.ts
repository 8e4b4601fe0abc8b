import { SignerError } from './signer-error';

/** A PKCS#11 object or session handle, as pkcs11js gives it. */
export type Handle = Buffer;

/** One attribute of a template. */
export interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer;
}

/**
 * The few calls of pkcs11js (an optional peer) this library makes, typed structurally so that no
 * declaration of the package names its types.
 */
export interface Pkcs11Library {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): Attribute[];
  C_SignInit(
    session: Handle,
    mechanism: { mechanism: number; parameter?: Record<string, number> },
    key: Handle,
  ): void;
  C_SignAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
}

/** The pkcs11js module: its PKCS11 class and its CK* constants. */
export type Pkcs11Js = { PKCS11: new () => Pkcs11Library } & Record<string, unknown>;

/**
 * Loads pkcs11js, an optional peer needed only by `pkcs11` sources.
 * @throws SignerError naming the package to install
 */
export function loadPkcs11Js(): Pkcs11Js {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only when a pkcs11 source is configured
    return require('pkcs11js') as Pkcs11Js;
  } catch (e) {
    throw new SignerError(
      "modulePath: the package 'pkcs11js' is not installed — npm install pkcs11js (a native addon: it needs a C++ compiler at install time, and npm 11 must allow its install script: npm install-scripts approve pkcs11js)",
      false,
      { cause: e },
    );
  }
}

/** A constant of pkcs11js by name (`CKA_LABEL`). */
export function ck(js: Pkcs11Js, name: string): number {
  const value = js[name];
  if (typeof value !== 'number') throw new Error(`pkcs11js has no constant ${name}`);
  return value;
}

/** The `CKR_…` name of a PKCS#11 error, or undefined for another error. */
export function ckrOf(js: Pkcs11Js, e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  const fromMessage = /\b(CKR_[A-Z0-9_]+)\b/.exec(String((e as Error)?.message ?? ''))?.[1];
  if (fromMessage !== undefined) return fromMessage;
  if (typeof code !== 'number') return undefined;
  return Object.keys(js).find((k) => k.startsWith('CKR_') && js[k] === code);
}

interface Loaded {
  library: Pkcs11Library;
  users: number;
}

/**
 * The PKCS#11 modules loaded by this process, one library per path: a module is initialised once
 * (`C_Initialize`, which reads its configuration, SoftHSM's `SOFTHSM2_CONF` say) and finalised
 * when its last signer closes, so a module opened again later starts anew.
 */
const loaded = new Map<string, Loaded>();

/** The initialised library of `modulePath`, counted as used until {@link releaseModule}. */
export function openModule(js: Pkcs11Js, modulePath: string): Pkcs11Library {
  const known = loaded.get(modulePath);
  if (known !== undefined) {
    known.users++;
    return known.library;
  }
  const library = new js.PKCS11();
  try {
    library.load(modulePath);
  } catch (e) {
    throw new SignerError(
      `modulePath: cannot load the PKCS#11 module '${modulePath}' (${(e as Error).message.split('\n')[0]}) — point it at the module's shared library, e.g. /usr/lib/softhsm/libsofthsm2.so`,
      false,
      { cause: e },
    );
  }
  try {
    // Signatures run on libuv's threads (C_SignAsync), up to 4 at once: the module must lock. Given
    // no arguments, a module may assume a single thread (SoftHSM then takes no locks, and
    // concurrent signatures corrupt its memory).
    library.C_Initialize({ flags: ck(js, 'CKF_OS_LOCKING_OK') });
  } catch (e) {
    // Another part of the process initialised it: usable as it is.
    if (ckrOf(js, e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new SignerError(
        `modulePath: the PKCS#11 module '${modulePath}' failed to initialise (${ckrOf(js, e) ?? (e as Error).message}) — check its configuration`,
        false,
        { cause: e },
      );
    }
  }
  loaded.set(modulePath, { library, users: 1 });
  return library;
}

/** One signer is done with the module; the last one finalises it. */
export function releaseModule(modulePath: string): void {
  const known = loaded.get(modulePath);
  if (known === undefined || --known.users > 0) return;
  loaded.delete(modulePath);
  try {
    known.library.C_Finalize();
  } catch {
    // Finalised already, or the module is gone: nothing left to release.
  }
}
