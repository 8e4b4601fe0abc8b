import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { Agent, request } from 'undici';

/**
 * An msal-node network client that trusts the local authority's CA (NODE_EXTRA_CA_CERTS is read only
 * at process start, so tests cannot set it). Like msal's own client it never throws on 4xx/5xx, and it
 * throws on a non-JSON body so an HTML error page cannot pass for an empty token answer.
 */
export class TrustingNetworkClient implements INetworkModule {
  readonly agent: Agent;

  constructor(caPem: string) {
    this.agent = new Agent({ connect: { ca: caPem } });
  }

  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options);
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  /** Closes the pooled connections. */
  close(): Promise<void> {
    return this.agent.close();
  }

  private async send<T>(
    method: 'GET' | 'POST',
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const res = await request(url, {
      method,
      headers: options?.headers,
      body: options?.body,
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    let body: T;
    try {
      body = JSON.parse(text) as T;
    } catch {
      throw new Error(`non-JSON answer (HTTP ${res.statusCode}) from ${url}`);
    }
    return { status: res.statusCode, headers, body };
  }
}
