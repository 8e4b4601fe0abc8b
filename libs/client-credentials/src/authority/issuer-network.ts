import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';

/**
 * The network client of a credential named by its OIDC issuer. msal sends a client secret in the
 * body (client_secret_post); an issuer whose discovery document lists `client_secret_basic` but not
 * `client_secret_post` gets it in the Authorization header instead (RFC 6749 §2.3.1).
 */
export class IssuerNetwork implements INetworkModule {
  #basic = false;

  constructor(private readonly network: INetworkModule) {}

  async sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const res = await this.network.sendGetRequestAsync<T>(url, options, timeout);
    const methods = (res.body as { token_endpoint_auth_methods_supported?: unknown })
      ?.token_endpoint_auth_methods_supported;
    if (Array.isArray(methods)) {
      this.#basic =
        methods.includes('client_secret_basic') && !methods.includes('client_secret_post');
    }
    return res;
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    const secret = form.get('client_secret');
    if (!this.#basic || secret === null) return this.network.sendPostRequestAsync<T>(url, options);
    const id = form.get('client_id') ?? '';
    form.delete('client_secret');
    form.delete('client_id');
    // RFC 6749 §2.3.1: each part form-encoded before the base64 of `id:secret`.
    const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
    const basic = Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64');
    return this.network.sendPostRequestAsync<T>(url, {
      ...options,
      headers: { ...options?.headers, authorization: `Basic ${basic}` },
      body: form.toString(),
    });
  }
}
