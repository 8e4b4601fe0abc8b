import { randomBytes } from 'node:crypto';
import { ARC_TOKEN_PATH } from './arc-endpoint';
import { ArcKeys } from './arc-keys';
import { IdentityTokenCache } from './identity-token-cache';
import { ImdsMaintenance } from './imds-endpoint';
import { MANAGED_IDENTITY_PATH } from './managed-identity-endpoint';
import type { RouteDeps } from './routes';
import type { ArcEmulation, ImdsEmulation } from './types';

/**
 * The Azure hosts whose managed identity endpoints the authority emulates — App Service (its
 * endpoint and the `x-identity-header` secret), the VM's IMDS (with host maintenance) and the Arc
 * agent (with its key-file challenge) — and the token cache each keeps, as the real hosts do.
 */
export class ManagedIdentityHosts {
  /** App Service: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`. */
  readonly appService: { endpoint: string; header: string };
  readonly imds: ImdsEmulation;
  readonly arc: ArcEmulation;
  private readonly imdsMaintenance = new ImdsMaintenance();
  private readonly arcKeys: ArcKeys;
  private readonly identityTokens = {
    appService: new IdentityTokenCache(),
    imds: new IdentityTokenCache(),
    arc: new IdentityTokenCache(),
  };

  /** `url` is the authority's origin; the Arc challenge's key files go to `arcKeyDirectory`. */
  constructor(url: string, arcKeyDirectory: string) {
    this.appService = {
      endpoint: `${url}${MANAGED_IDENTITY_PATH}`,
      header: randomBytes(16).toString('hex'),
    };
    const maintenance = this.imdsMaintenance;
    this.imds = {
      host: url,
      environment: { AZURE_POD_IDENTITY_AUTHORITY_HOST: url },
      maintenance: (ms, options) => maintenance.start(ms, options?.body),
    };
    this.arcKeys = new ArcKeys(arcKeyDirectory);
    this.arc = {
      identityEndpoint: `${url}${ARC_TOKEN_PATH}`,
      imdsEndpoint: `${url}/arc`,
      keyDirectory: this.arcKeys.directory,
      environment: { IDENTITY_ENDPOINT: `${url}${ARC_TOKEN_PATH}`, IMDS_ENDPOINT: `${url}/arc` },
    };
  }

  /** What the managed identity routes need of the hosts. */
  get routeDeps(): Pick<
    RouteDeps,
    'identityTokens' | 'identityHeader' | 'imdsMaintenance' | 'arcKeys'
  > {
    return {
      identityTokens: this.identityTokens,
      identityHeader: this.appService.header,
      imdsMaintenance: this.imdsMaintenance,
      arcKeys: this.arcKeys,
    };
  }

  /** Removes the Arc challenge's key files. */
  close(): Promise<void> {
    return this.arcKeys.close();
  }
}
