import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { BoundCertificate } from '../../client-credentials.options';
import type { Config } from './call-state';

/** Agents presenting a certificate, kept per interceptor: the current ones and a few rotated out. */
const MAX_CERTIFICATE_AGENTS = 8;

/**
 * The https agents of one interceptor that present a certificate (mTLS), one per certificate:
 * the request's own agent's settings (keep-alive, socket limits) with a TLS context presenting the
 * certificate and trusting `ca` — given, or the request agent's own.
 */
export class CertificateAgents {
  readonly #agents = new Map<string, HttpsAgent>();

  constructor(private readonly ca: string | string[] | undefined) {}

  /** Sets the request's https agent presenting `certificate`; returns the fetch dispatcher presenting it. */
  apply(config: Config, certificate: BoundCertificate): unknown {
    const base =
      config.httpsAgent instanceof HttpsAgent
        ? (config.httpsAgent as HttpsAgent & { options: AgentOptions }).options
        : {};
    const ca = this.ca ?? pemList(base.ca);
    let agent = this.#agents.get(certificate.thumbprint);
    if (agent === undefined) {
      agent = new HttpsAgent({
        ...base,
        keepAlive: base.keepAlive ?? true,
        secureContext: certificate.secureContext({ ca }),
      });
      this.#agents.set(certificate.thumbprint, agent);
      if (this.#agents.size > MAX_CERTIFICATE_AGENTS) {
        const oldest = this.#agents.keys().next().value as string;
        this.#agents.get(oldest)?.destroy();
        this.#agents.delete(oldest);
      }
    }
    config.httpsAgent = agent;
    return certificate.dispatcher({ ca });
  }

  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

function pemList(ca: AgentOptions['ca']): string[] | undefined {
  if (ca === undefined) return undefined;
  return ([] as (string | Buffer)[]).concat(ca).map((c) => c.toString());
}
