/** A client secret registered on the app ("Certificates & secrets" → "Client secrets"). */
export interface SecretSourceOptions {
  type: 'secret';
  /** The secret's value (not its ID). Never logged, never serialised. */
  secret: string;
}

/**
 * A certificate registered on the app. The library signs a fresh client assertion (its own
 * `jti`) for every token request, and re-reads `certificatePath` when the file changes, so a
 * rotated certificate is used without a restart.
 */
export interface CertificateSourceOptions {
  type: 'certificate';
  /** A PEM file holding the certificate and its private key (as `AZURE_CLIENT_CERTIFICATE_PATH`). */
  certificatePath?: string;
  /** The certificate (PEM; a chain may follow it) when not read from `certificatePath`. */
  certificate?: string;
  /** The private key (PEM) when not read from `certificatePath`; defaults to the key found in the file. */
  privateKey?: string;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /**
   * Send the certificate chain (`x5c`) with each assertion: needed for subject name + issuer
   * (SNI) authentication.
   * @default false
   */
  sendX5c?: boolean;
}

/** What the callback of an `assertion` source is told. */
export interface AssertionContext {
  clientId: string;
  /** The token endpoint the assertion will be sent to: its `aud`. */
  tokenEndpoint: string;
}

/** A client assertion (a signed JWT) produced by your own code, e.g. by a signing service. */
export interface AssertionSourceOptions {
  type: 'assertion';
  /** Called for every token request; must return a JWT valid for `tokenEndpoint`. */
  getAssertion: (context: AssertionContext) => Promise<string> | string;
}

/** The JWS algorithms of certificate assertions: RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256. */
export type SignatureAlgorithm = 'RS256' | 'PS256' | 'ES256';

/**
 * A private key held elsewhere — an HSM, a TPM, a key service, a signing server — that signs the
 * client assertions of a certificate credential. The library builds each assertion (header with
 * `x5t#S256` and, with `sendX5c`, `x5c`; claims; a fresh `jti`; its lifetime) as it does for a PEM
 * key, and asks the signer for its signature only: the key never has to leave where it lives.
 * Every signature is checked against the certificate's public key before it is sent.
 * @example
 * const signer: CertificateSigner = {
 *   getCertificate: () => certificatePem,
 *   sign: (data, algorithm, { signal }) => signingService.sign(data, algorithm, { signal }),
 * };
 */
export interface CertificateSigner {
  /**
   * The certificate of the key (PEM), followed by its chain when the assertion carries `x5c`.
   * Called at start-up and before each assertion: answer from memory.
   */
  getCertificate(): Promise<string> | string;
  /**
   * The signature of `data` — the JWS signing input (`header.payload`), not its digest — with
   * `algorithm`: RSASSA-PKCS1-v1_5 (RS256) or RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte
   * salt (PS256) bytes; for ES256, `r ‖ s` (64 bytes; a DER signature is accepted too). `signal`
   * aborts when the library stops waiting (`timeouts.requestMs`).
   */
  sign(
    data: Uint8Array,
    algorithm: SignatureAlgorithm,
    options: { signal: AbortSignal },
  ): Promise<Uint8Array> | Uint8Array;
}

/** What every source that signs with a key held elsewhere takes. */
export interface SignerSourceBase {
  /**
   * The signature algorithm. Entra ID takes PS256 (and RS256) with an RSA key; ES256 (an EC P-256
   * key) is for OIDC issuers that allow it.
   * @default 'PS256' for an RSA key, 'ES256' for an EC P-256 key
   */
  algorithm?: SignatureAlgorithm;
  /** Send the certificate chain (`x5c`), for subject name + issuer (SNI). @default false */
  sendX5c?: boolean;
}

/**
 * A certificate credential whose key is held by a signer of your own (see {@link CertificateSigner}).
 * With Entra ID (`protocol: 'entra'`) an assertion is reused for its audience (the tenant's token
 * endpoint) for up to 5 minutes of its 10, as Entra allows: one signature serves that tenant's
 * token requests meanwhile. OIDC issuers get a new one per request (they may refuse a `jti` twice).
 */
export interface SignerSourceOptions extends SignerSourceBase {
  type: 'signer';
  /** The key's certificate and signatures. Not configurable from YAML/JSON (it is an object of code). */
  signer: CertificateSigner;
}

/**
 * A key in an HSM, smart card or TPM reached through its PKCS#11 module (`pkcs11js`, an optional
 * peer, is loaded when such a source is configured). The key is found by label or id on the token
 * named by its label (or slot id); one login per token, sessions pooled, logged in again after the
 * token was removed or its sessions closed. The PIN is read from a file or a variable, never logged.
 * At most 2 signatures are inside PKCS#11 modules at once per process, those whose callers timed out
 * included until the device answers (libuv's thread pool is the process's): see docs/credentials.md.
 * @example
 * { type: 'pkcs11', modulePath: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'daemon',
 *   keyLabel: 'daemon-key', pinFile: '/run/secrets/hsm-pin' }
 */
export interface Pkcs11SourceOptions extends SignerSourceBase {
  type: 'pkcs11';
  /** Path of the PKCS#11 module (`.so`, `.dylib`, `.dll`). */
  modulePath: string;
  /** Label of the token (`softhsm2-util --show-slots`). One of `tokenLabel` or `slot`. */
  tokenLabel?: string;
  /** Slot id of the token. */
  slot?: number;
  /** `CKA_LABEL` of the private key. One of `keyLabel` or `keyId`. */
  keyLabel?: string;
  /** `CKA_ID` of the private key, in hex. */
  keyId?: string;
  /** A file holding the user PIN (a trailing newline is ignored). One of `pinFile` or `pinEnv`. */
  pinFile?: string;
  /** The name of an environment variable holding the user PIN. */
  pinEnv?: string;
  /**
   * A PEM file holding the key's certificate (and chain), re-read when it changes.
   * @default the certificate object on the token with the key's `CKA_ID` (else its label), read
   * again every 5 minutes and after the authority refused the credential (a renewed certificate)
   */
  certificatePath?: string;
  /** The certificate (PEM) when not read from a file or the token. */
  certificate?: string;
}

/**
 * An Azure Key Vault (or Managed HSM) key that signs (`keys/sign`; the key is never exported),
 * through `@azure/keyvault-keys` (an optional peer, loaded when such a source is configured). The
 * vault is called with tokens of another credential of this module — a managed identity, typically.
 * A `keyId` without a version signs with the key's current version: a rotated key is used at the
 * next signature, and its certificate file (re-read when it changes) must follow it.
 * @example
 * { type: 'key-vault', keyId: 'https://contoso.vault.azure.net/keys/daemon',
 *   certificatePath: '/etc/daemon/cert.pem', credential: 'vault' }
 */
export interface KeyVaultSourceOptions extends SignerSourceBase {
  type: 'key-vault';
  /** `https://<vault>.vault.azure.net/keys/<name>[/<version>]` (or a Managed HSM's key id). */
  keyId: string;
  /** The name of the credential (of this module) whose tokens the vault accepts. */
  credential: string;
  /** A PEM file holding the key's certificate (and chain), re-read when it changes. */
  certificatePath?: string;
  /** The certificate (PEM) when not read from a file. */
  certificate?: string;
  /** Extra CA certificates (PEM) to trust for the vault, besides the public roots. */
  ca?: string | string[];
  /**
   * Accept a challenge whose resource is not the vault's domain (a vault at a loopback or private
   * address, an emulator). Tokens are still given only for Key Vault and Managed HSM resources
   * (`https://vault.azure.net`, `https://managedhsm.azure.net` and the national clouds'); the
   * host at `keyId` then receives one: set it only for a host you trust.
   * @default false
   */
  disableChallengeResourceVerification?: boolean;
}

/**
 * Workload identity federation: a token issued by the platform (a Kubernetes projected service
 * account token, a CI system's OIDC token) read from a file, trusted by a federated identity
 * credential on the app. The file is re-read when it changes and before its token expires.
 */
export interface WorkloadIdentitySourceOptions {
  type: 'workload-identity';
  /**
   * Path of the token file.
   * @default process.env.AZURE_FEDERATED_TOKEN_FILE
   */
  tokenFilePath?: string;
}

/**
 * Keyless app authentication on Azure compute: a managed identity token is the app's client
 * assertion, through a federated identity credential on the app that trusts the identity.
 */
export interface ManagedIdentityAssertionSourceOptions {
  type: 'managed-identity-assertion';
  /** Client ID of a user-assigned managed identity. @default the system-assigned identity */
  managedIdentityClientId?: string;
  /** Audience of the managed identity token. @default 'api://AzureADTokenExchange' */
  audience?: string;
}

/**
 * The managed identity itself (system-assigned, or user-assigned by one of its ids) gets the
 * tokens. A credential made only of such sources needs no `tenantId` or `clientId`.
 */
export interface ManagedIdentitySourceOptions {
  type: 'managed-identity';
  /** Client ID of a user-assigned identity. */
  clientId?: string;
  /** Azure resource ID of a user-assigned identity. */
  resourceId?: string;
  /** Object (principal) ID of a user-assigned identity. */
  objectId?: string;
}

/** One way for an app to prove who it is. */
export type CredentialSource =
  | SecretSourceOptions
  | CertificateSourceOptions
  | AssertionSourceOptions
  | SignerSourceOptions
  | Pkcs11SourceOptions
  | KeyVaultSourceOptions
  | WorkloadIdentitySourceOptions
  | ManagedIdentityAssertionSourceOptions
  | ManagedIdentitySourceOptions;
