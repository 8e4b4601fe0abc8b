import type { LoggerService } from '@nestjs/common';
import { ManagedIdentityClient } from '../authority/managed-identity-client';
import type { AuthorityNetworkClient } from '../authority/msal-network';
import { DEFAULTS } from '../options/defaults';
import { managedIdentityId } from '../options/managed-identity-name';
import type { CredentialSettings } from '../options/resolved-options';
import type { DpopKey } from '../authority/dpop-key';
import { TokenClient } from '../authority/token-client';
import { AssertionSource } from './sources/assertion.source';
import { CertificateSource } from './sources/certificate.source';
import {
  ManagedIdentityAssertionSource,
  ManagedIdentitySource,
} from './sources/managed-identity.source';
import { SecretSource } from './sources/secret.source';
import { WorkloadIdentitySource } from './sources/workload-identity.source';
import { SourceClient } from '../authority/source-client';
import type { CredentialSource, SignerSourceBase } from '../credential.options';
import { KeyVaultSigner } from '../signing/key-vault-signer';
import { Pkcs11Signer } from '../signing/pkcs11-signer';
import { SignerError } from '../signing/signer-error';
import { vaultTokenCredential, type CredentialTokens } from '../signing/vault-credential';
import { SignerSource } from './sources/signer.source';

/** What a source client is built with. */
export interface SourceContext {
  credential: CredentialSettings;
  /** HTTP to the authority. */
  network: AuthorityNetworkClient;
  /** HTTP to the managed identity endpoint (its own, shorter timeout). */
  identityNetwork: AuthorityNetworkClient;
  /** The longest one request may take: a callback of the app's into a request is bounded by it. */
  requestMs: number;
  logger: LoggerService;
  /** Tokens of another credential of the module, for a `key-vault` source's vault. */
  tokensOf?: (credential: string) => CredentialTokens;
  /** The credential's DPoP key: its app sources' tokens are bound to it. */
  dpop?: DpopKey;
  /** The longest Retry-After honoured (`retry.maxRetryAfterMs`): a signer's service's too. */
  maxRetryAfterMs?: number;
}

/**
 * Builds the run-time client of one entry of `sources`; `index` names it (`certificate#1`).
 * App sources get an msal ConfidentialClientApplication; a managed identity gets msal's
 * ManagedIdentityApplication.
 */
export function createSourceClient(
  options: CredentialSource,
  index: number,
  ctx: SourceContext,
): SourceClient {
  const id = `${options.type}#${index}`;
  const app = (source: ConstructorParameters<typeof TokenClient>[1]) =>
    new TokenClient(ctx.credential, source, ctx.network, ctx.logger, {
      requestMs: ctx.requestMs,
      dpop: ctx.dpop,
    });
  switch (options.type) {
    case 'secret':
      return app(new SecretSource(options, id));
    case 'certificate':
      return app(new CertificateSource(options, id, ctx.credential.proxy));
    case 'assertion':
      return app(new AssertionSource(options, id, ctx.requestMs));
    case 'signer':
      return app(new SignerSource('signer', id, options.signer, signerSettings(options, ctx)));
    case 'pkcs11':
      return app(
        new SignerSource(
          'pkcs11',
          id,
          new Pkcs11Signer(options, ctx.requestMs),
          signerSettings(options, ctx, true),
        ),
      );
    case 'key-vault': {
      const vault = () => {
        const tokens = ctx.tokensOf?.(options.credential);
        if (tokens === undefined) {
          throw new SignerError(`credential: '${options.credential}' gives no tokens here`);
        }
        return vaultTokenCredential(tokens);
      };
      const signer = new KeyVaultSigner(options, vault);
      return app(new SignerSource('key-vault', id, signer, signerSettings(options, ctx, true)));
    }
    case 'workload-identity':
      return app(new WorkloadIdentitySource(options, id));
    case 'managed-identity-assertion': {
      const identity = new ManagedIdentityClient(
        new ManagedIdentitySource(
          { type: 'managed-identity', clientId: options.managedIdentityClientId },
          id,
        ),
        managedIdentityId({ clientId: options.managedIdentityClientId }),
        ctx.identityNetwork,
        ctx.logger,
      );
      return app(new ManagedIdentityAssertionSource(options, id, identity));
    }
    case 'managed-identity': {
      const source = new ManagedIdentitySource(options, id);
      return new ManagedIdentityClient(
        source,
        managedIdentityId(options),
        ctx.identityNetwork,
        ctx.logger,
      );
    }
  }
}

/**
 * How a signer source signs: Entra ID takes an assertion until its `exp` (msal reuses one for 10
 * minutes), so one is reused per tenant; an OIDC issuer may refuse a `jti` it has seen (RFC 7523
 * §3 allows it; oidc-provider does), so there each token request gets a new one.
 */
function signerSettings(options: SignerSourceBase, ctx: SourceContext, owned = false) {
  return {
    owned,
    algorithm: options.algorithm,
    sendX5c: options.sendX5c,
    reuse: ctx.credential.protocol === 'entra',
    rsaOnly: ctx.credential.protocol === 'entra',
    timeoutMs: ctx.requestMs,
    maxRetryAfterMs: ctx.maxRetryAfterMs ?? DEFAULTS.retry.maxRetryAfterMs,
  };
}
