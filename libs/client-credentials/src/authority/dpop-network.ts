import {
  AuthError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import type { DpopKey } from './dpop-key';
import { tokenAnswer, type AuthorityNetworkClient } from './msal-network';
import { checkKeyBinding } from './token-response';

/**
 * The authorization server asked for its DPoP nonce (`400 use_dpop_nonce`) and gave one, now
 * noted: the token client asks msal for the request again, once (see {@link DpopNetwork}).
 * `refusal` is the answer's own failure, thrown if the second request is refused alike. An
 * AuthError, which msal passes through unchanged.
 */
export class NonceChallenge extends AuthError {
  constructor(readonly refusal: unknown) {
    super('use_dpop_nonce', 'the authorization server asked for its DPoP nonce');
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'NonceChallenge';
  }
}

/**
 * The network client of a DPoP credential (RFC 9449 §5): every token request carries a fresh proof
 * of the credential's key, with the authorization server's latest nonce. An answer
 * `400 use_dpop_nonce` that gives a nonce is a {@link NonceChallenge}: the request is made again,
 * once, with it (§8) — by msal, not by re-sending this form, whose `client_assertion` the server
 * has seen: an issuer that takes each assertion's `jti` once (RFC 7523 §3, oidc-provider) would
 * refuse the copy as `invalid_client`. A nonce sent with any other answer is kept for the next
 * request.
 *
 * msal-node 7 has no DPoP API for client credentials: it would refuse a `token_type: DPoP` answer
 * without a key of its own (`key_id_missing`). The answer is checked here — a DPoP token, never a
 * Bearer one, see {@link tokenAnswer} — and handed to msal as an opaque token; the token client
 * reports it as a DPoP token.
 */
export class DpopNetwork implements INetworkModule {
  constructor(
    private readonly network: AuthorityNetworkClient,
    private readonly key: DpopKey,
  ) {}

  /** Discovery documents: no proof. */
  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    return this.network.sendGetRequestAsync<T>(url, options, timeout);
  }

  async sendPostRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> {
    const origin = new URL(url).origin;
    const answer = await this.send(url, origin, options);
    if (answer.status === 400 && oauthError(answer.body) === 'use_dpop_nonce') {
      // The nonce came with the refusal (noted by send); without a new one, a retry would fail alike.
      const nonce = answer.headers['dpop-nonce'];
      if (nonce !== undefined && nonce === this.key.nonceOf(origin)) {
        throw new NonceChallenge(refusalOf(answer));
      }
    }
    const checked = tokenAnswer<Record<string, unknown>>(answer, 'DPoP');
    checkKeyBinding(String(checked.body.access_token), this.key.jkt, options?.correlationId);
    // For msal's eyes only: it keeps no DPoP key for client credentials (see above).
    return { ...checked, body: { ...checked.body, token_type: 'Bearer' } as T };
  }

  private async send(
    url: string,
    origin: string,
    options: NetworkRequestOptions | undefined,
  ): Promise<NetworkResponse<unknown>> {
    const proof = this.key.proof({ method: 'POST', url, nonce: this.key.nonceOf(origin) });
    const answer = await this.network.post(url, {
      ...options,
      headers: { ...options?.headers, DPoP: proof },
    });
    this.key.noteNonce(origin, answer.headers['dpop-nonce']);
    return answer;
  }
}

/** The failure `tokenAnswer` makes of a refusal. */
function refusalOf(answer: NetworkResponse<unknown>): unknown {
  try {
    tokenAnswer(answer, 'DPoP');
    return undefined;
  } catch (e) {
    return e;
  }
}

function oauthError(body: unknown): unknown {
  return (body as { error?: unknown } | null)?.error;
}
