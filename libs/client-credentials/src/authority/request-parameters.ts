import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';

/** Extra form parameters and headers of one token request. */
export interface RequestExtras {
  readonly parameters: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * msal-node's network client, with a request's extra form parameters and headers added to the
 * token request it posts. msal-node 7 takes none for the client credentials grant (its
 * `ClientCredentialRequest` leaves out msal-common's `extraParameters`), so they are added here,
 * in the one place every token request passes; the request is named by the correlation id msal
 * hands the network client.
 */
export class ParameterNetwork implements INetworkModule {
  readonly #pending = new Map<string, RequestExtras>();

  constructor(private readonly network: INetworkModule) {}

  /** Runs `work` (one msal request of `correlationId`) with `extras` added to its token request. */
  async with<T>(correlationId: string, extras: RequestExtras, work: () => Promise<T>): Promise<T> {
    this.#pending.set(correlationId, extras);
    try {
      return await work();
    } finally {
      this.#pending.delete(correlationId);
    }
  }

  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    return this.network.sendGetRequestAsync<T>(url, options, timeout);
  }

  sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const extras =
      options?.correlationId === undefined ? undefined : this.#pending.get(options.correlationId);
    if (extras === undefined) return this.network.sendPostRequestAsync<T>(url, options);
    const form = new URLSearchParams(options?.body ?? '');
    for (const [name, value] of Object.entries(extras.parameters)) form.set(name, value);
    return this.network.sendPostRequestAsync<T>(url, {
      ...options,
      headers: { ...options?.headers, ...extras.headers },
      body: form.toString(),
    });
  }
}
