import { createHash, type KeyObject } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { inspect } from 'node:util';
import type { Dispatcher } from 'undici';
import type { BoundCertificate, TrustOptions } from '../client-credentials.options';
import { ENVIRONMENT_PROXY, type ProxySetting } from '../options/resolved-options';
import { leaseAgent, type AgentLease, type PresentedCertificate } from './authority-agents';

/** CA sets a certificate keeps a context and a pool for (one per API it is presented to). */
const MAX_TRUST_SETS = 32;

/**
 * A certificate and its private key, as presented in TLS handshakes (mTLS): to an authority's
 * token endpoint, where it authenticates the app (RFC 8705 §2), and to the APIs its tokens are
 * bound to (§3). The private key lives in a private field; what shows of it is its thumbprint.
 *
 * A secure context is built once per CA set (Node would otherwise build one, with ~145 roots, per
 * connection) and a dispatcher leased once per CA set from the process-wide registry of pools
 * ({@link leaseAgent}): a pool per certificate, shared by whoever presents it.
 */
export class ClientCertificate implements BoundCertificate, PresentedCertificate {
  readonly #chain: string;
  readonly #key: KeyObject;
  readonly #contexts = new Map<string, SecureContext>();
  readonly #leases = new Map<string, AgentLease>();
  #released = false;
  /** A proxy URL may hold a password: in a private field, as the key. */
  readonly #proxy: ProxySetting;

  /**
   * @param chain the certificate and the chain after it (PEM), as sent in the handshake
   * @param thumbprint the certificate's `x5t#S256` (base64url SHA-256 of its DER)
   * @param proxy how the API calls presenting it reach the network: the credential's `proxy`, as
   * its token requests (by default the environment's `HTTPS_PROXY`, never for loopback)
   */
  constructor(
    chain: readonly string[],
    key: KeyObject,
    readonly thumbprint: string,
    readonly notAfter: Date,
    proxy: ProxySetting = ENVIRONMENT_PROXY,
  ) {
    this.#proxy = proxy;
    this.#chain = chain.join('\n');
    this.#key = key;
  }

  secureContext(options?: TrustOptions): SecureContext {
    const ca = caList(options?.ca);
    const id = trustId(ca);
    let context = this.#contexts.get(id);
    if (context === undefined) {
      context = createSecureContext({
        cert: this.#chain,
        // Node's TLS takes keys as PEM only, not KeyObjects: exported for the context, not kept.
        key: this.#key.export({ type: 'pkcs8', format: 'pem' }),
        ...(ca.length === 0 ? {} : { ca: [...rootCertificates, ...ca] }),
      });
      if (this.#contexts.size >= MAX_TRUST_SETS) {
        this.#contexts.delete(this.#contexts.keys().next().value as string);
      }
      this.#contexts.set(id, context);
    }
    return context;
  }

  dispatcher(options?: TrustOptions): Dispatcher {
    if (this.#released) {
      throw new Error(
        `The connections presenting certificate ${this.thumbprint} are closed (application shutdown).`,
      );
    }
    const ca = caList(options?.ca);
    const id = trustId(ca);
    let lease = this.#leases.get(id);
    if (lease === undefined) {
      lease = leaseAgent(ca, this.#proxy, this);
      if (this.#leases.size >= MAX_TRUST_SETS) {
        const oldest = this.#leases.keys().next().value as string;
        void this.#leases.get(oldest)?.release();
        this.#leases.delete(oldest);
      }
      this.#leases.set(id, lease);
    }
    return lease.agent;
  }

  /** Closes the pools it leased for API calls; a dispatcher asked for afterwards is refused. */
  async release(): Promise<void> {
    this.#released = true;
    const leases = [...this.#leases.values()];
    this.#leases.clear();
    await Promise.all(leases.map((l) => l.release()));
  }

  toJSON(): Record<string, unknown> {
    return { thumbprint: this.thumbprint, notAfter: this.notAfter.toISOString() };
  }

  [inspect.custom](): string {
    return `ClientCertificate ${inspect(this.toJSON())}`;
  }
}

function caList(ca: string | readonly string[] | undefined): readonly string[] {
  return ca === undefined ? [] : typeof ca === 'string' ? [ca] : ca;
}

function trustId(ca: readonly string[]): string {
  return ca.length === 0 ? '' : createHash('sha256').update(ca.join('\n')).digest('hex');
}
