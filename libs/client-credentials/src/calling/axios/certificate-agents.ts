import { createHash } from 'node:crypto';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { BoundCertificate } from '../../client-credentials.options';
import { InvalidRequestError } from '../../errors/client-credentials.errors';
import type { Config } from './call-state';

/** Agents presenting a certificate, per request agent: the current ones and a few rotated out. */
const MAX_CERTIFICATE_AGENTS = 8;

/** axios's adapters when the config names none (`axios.defaults.adapter`), in its order. */
const DEFAULT_ADAPTERS: readonly string[] = ['xhr', 'http', 'fetch'];

/** The transports the interceptor can make present a certificate: axios's http and fetch adapters. */
type Transport = 'http' | 'fetch';

/**
 * Makes the requests of one interceptor that carry a certificate-bound token (mTLS) present its
 * certificate, trusting `ca` — given, or the CA of the request's own agent (`httpsAgent`, or
 * `http2Options` over HTTP/2): axios's http adapter through an https agent per certificate and
 * request agent (with all of that agent's options, its TLS context presenting the certificate), or, with `httpVersion: 2`, through `http2Options`; its fetch adapter through a
 * dispatcher. Any other adapter is refused before the token is attached.
 */
export class CertificateAgents {
  /**
   * Per request agent (by identity): its agents presenting a certificate, by thumbprint. Each is
   * made from all of the request agent's options — its trust, but also its `lookup` (DNS pinning,
   * an SSRF filter), `localAddress`, `family` and socket limits — so it is never handed to a
   * request whose own agent differs in any of them. Weak: an agent the app drops takes its own.
   */
  readonly #byAgent = new WeakMap<object, Map<string, HttpsAgent>>();
  /** The key of the requests without an https agent of their own. */
  readonly #noAgent = {};
  /**
   * The map each agent made here is kept in: a config sent again (a re-send after a 401, a
   * redirect) holds the agent set here, and gets it again — not one made from it. (The map, not
   * the request agent: a value of a WeakMap whose key stays reachable would keep that agent.)
   */
  readonly #madeHere = new WeakMap<HttpsAgent, Map<string, HttpsAgent>>();
  /** Every map of {@link #byAgent}, for destroy(); one whose request agent was collected leaves. */
  readonly #all = new Set<Map<string, HttpsAgent>>();
  readonly #collected = new FinalizationRegistry<Map<string, HttpsAgent>>((agents) => {
    destroyAll(agents);
    this.#all.delete(agents);
  });

  constructor(private readonly ca: string | string[] | undefined) {}

  /**
   * Sets the request's https agent (or HTTP/2 options) presenting `certificate`; returns the
   * fetch dispatcher presenting it.
   * @throws InvalidRequestError `proof_required` when the request goes through an adapter that
   *   cannot be made to present it (a custom adapter function, xhr, a mock)
   */
  apply(config: Config, certificate: BoundCertificate, credential: string): unknown {
    const transport = transportOf(config.adapter);
    if (transport === undefined) {
      throw new InvalidRequestError(
        'proof_required',
        `Credential '${credential}' gets tokens bound to its certificate: this axios request goes through an adapter the interceptor cannot make present it (a custom adapter function, xhr, a mock adapter), so the token was not attached. Use axios's 'http' or 'fetch' adapter (the default in Node).`,
        { credential },
      );
    }
    const options = config as { httpVersion?: unknown; http2Options?: Record<string, unknown> };
    if (transport === 'http' && Number(options.httpVersion) === 2) {
      // HTTP/2 sessions take no agent: their TLS options are `http2Options`.
      const own = options.http2Options ?? {};
      const ca = this.ca ?? pemList(own.ca as AgentOptions['ca']);
      options.http2Options = {
        ...own,
        secureContext: certificate.secureContext({ ca }),
        // Ignored by TLS. axios reuses a session whose options are deep-equal to the request's,
        // and to that comparison every secure context looks alike: this one tells the sessions
        // of one certificate and trust settings from another's.
        presentedCertificate: trustKey(certificate.thumbprint, own, ca),
      };
      return certificate.dispatcher({ ca });
    }
    const given = config.httpsAgent instanceof HttpsAgent ? config.httpsAgent : undefined;
    // Of one made here: its request agent's options, with keep-alive set and another TLS context.
    const base =
      given === undefined ? {} : (given as HttpsAgent & { options: AgentOptions }).options;
    const ca = this.ca ?? pemList(base.ca);
    let agents = (given && this.#madeHere.get(given)) ?? this.#byAgent.get(given ?? this.#noAgent);
    if (agents === undefined) {
      agents = new Map();
      this.#byAgent.set(given ?? this.#noAgent, agents);
      this.#all.add(agents);
      if (given !== undefined) this.#collected.register(given, agents);
    }
    let agent = agents.get(certificate.thumbprint);
    if (agent === undefined) {
      agent = new HttpsAgent({
        ...base,
        keepAlive: base.keepAlive ?? true,
        secureContext: certificate.secureContext({ ca }),
      });
      agents.set(certificate.thumbprint, agent);
      this.#madeHere.set(agent, agents);
      if (agents.size > MAX_CERTIFICATE_AGENTS) {
        const oldest = agents.keys().next().value as string;
        agents.get(oldest)?.destroy();
        agents.delete(oldest);
      }
    }
    config.httpsAgent = agent;
    return certificate.dispatcher({ ca });
  }

  destroy(): void {
    for (const agents of this.#all) destroyAll(agents);
  }
}

function destroyAll(agents: Map<string, HttpsAgent>): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/**
 * The adapter axios will send a request through, resolved as axios does (the first of the list
 * available here), when it is one of the transports the interceptor controls; else undefined.
 * A function counts only when it is axios's own http adapter (`axios.getAdapter('http')`).
 */
function transportOf(adapter: unknown): Transport | undefined {
  const list: readonly unknown[] =
    adapter === undefined ? DEFAULT_ADAPTERS : Array.isArray(adapter) ? adapter : [adapter];
  for (const entry of list) {
    // axios passes over null and false, and over xhr where there is no XMLHttpRequest (Node).
    if (entry === null || entry === false) continue;
    const name =
      typeof entry === 'string'
        ? entry.toLowerCase()
        : typeof entry === 'function'
          ? (entry as { adapterName?: unknown }).adapterName
          : undefined;
    if (name === 'xhr' && typeof entry === 'string' && !('XMLHttpRequest' in globalThis)) continue;
    return name === 'fetch' && typeof entry === 'string'
      ? 'fetch'
      : name === 'http'
        ? 'http'
        : undefined;
  }
  return undefined;
}

/** Functions of TLS options (`checkServerIdentity`) by identity: a key of plain text for each. */
const functionIds = new WeakMap<object, number>();
let nextFunctionId = 0;

/**
 * The key of a certificate's HTTP/2 sessions under the TLS options that decide whom they trust: the
 * CA (a digest), `rejectUnauthorized`, `checkServerIdentity` (by identity), `servername`,
 * `minVersion` and `ciphers` (axios compares the other options of a session itself).
 */
function trustKey(
  thumbprint: string,
  options: Record<string, unknown> | AgentOptions,
  ca: readonly string[] | string | undefined,
): string {
  const o = options as Record<string, unknown>;
  const check = o.checkServerIdentity;
  let checkId: number | undefined;
  if (typeof check === 'function') {
    checkId = functionIds.get(check);
    if (checkId === undefined) functionIds.set(check, (checkId = nextFunctionId++));
  }
  return JSON.stringify([
    thumbprint,
    ca === undefined ? null : createHash('sha256').update([ca].flat().join('\n')).digest('hex'),
    o.rejectUnauthorized ?? null,
    checkId ?? null,
    o.servername ?? null,
    o.minVersion ?? null,
    o.ciphers ?? null,
  ]);
}

function pemList(ca: AgentOptions['ca']): string[] | undefined {
  if (ca === undefined) return undefined;
  return ([] as (string | Buffer)[]).concat(ca).map((c) => c.toString());
}
