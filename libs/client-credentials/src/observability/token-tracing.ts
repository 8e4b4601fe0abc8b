import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { ManagedIdentityHost } from '../authority/managed-identity-hosts';
import type { AgentLegName as AgentLeg } from '../client-credentials.events';

/** What @opentelemetry/api gives the tracing: loaded only when the app has it. */
type TraceApi = typeof import('@opentelemetry/api');

/** The API, or undefined: @opentelemetry/api is an optional peer of the package. */
function loadTraceApi(): TraceApi | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded only if present
    return require('@opentelemetry/api') as TraceApi;
  } catch {
    return undefined;
  }
}

/** The span attributes of one token request. */
export interface TokenRequestSpan {
  readonly credential: string;
  /** The source's id (`secret#0`), or `agent#0` for an agent's own requests. */
  readonly source: string;
  /** A span attribute only: never a metric label (see TokenMetrics). */
  readonly tenantId: string;
  readonly leg?: AgentLeg;
  readonly managedIdentityHost?: ManagedIdentityHost;
}

/** The span attributes of one background refresh attempt. */
export interface RefreshSpan {
  readonly credential: string;
  readonly tenantId: string;
  readonly leg?: AgentLeg;
  /** Failed attempts of this refresh before this one. */
  readonly previousFailures: number;
}

/** What an error tells a span: its stable code, and Entra's number and correlation id. */
interface SpanError {
  readonly code?: string;
  readonly aadsts?: number;
  readonly correlationId?: string;
}

/**
 * OpenTelemetry spans through @opentelemetry/api, when the app has it (no-ops otherwise, and with
 * the API but no SDK registered). One span per token request, a child of whatever span is active
 * when it starts — a caller's request handler, say — so that a slow call in a trace shows the
 * token request inside it; and one root span per background refresh attempt, so that a refresh
 * never lands in the trace of whichever caller happened to schedule its timer.
 *
 * The tracer comes from the API's proxy provider, which follows an SDK registered after the
 * service starts (unlike meters). Never used on the cache-hit path.
 */
export class TokenTracing {
  readonly #api = loadTraceApi();
  readonly #tracer: Tracer | undefined = this.#api?.trace.getTracer('nest-client-credentials');

  /**
   * Runs `request` (one request to a token endpoint or managed identity endpoint) inside a span
   * `client_credentials.token_request`: its outcome (`ok` or the error's code), AADSTS number and
   * correlation id are recorded when it settles.
   */
  request<T>(attributes: TokenRequestSpan, request: () => Promise<T>): Promise<T> {
    const api = this.#api;
    if (api === undefined || this.#tracer === undefined) return request();
    const attrs: Attributes = {
      'client_credentials.credential': attributes.credential,
      'client_credentials.source': attributes.source,
      'client_credentials.tenant_id': attributes.tenantId,
    };
    if (attributes.leg !== undefined) attrs['client_credentials.agent_leg'] = attributes.leg;
    if (attributes.managedIdentityHost !== undefined) {
      attrs['client_credentials.managed_identity_host'] = attributes.managedIdentityHost;
    }
    const options = { kind: api.SpanKind.CLIENT, attributes: attrs };
    return this.#tracer.startActiveSpan('client_credentials.token_request', options, (span) =>
      settle(api, span, request()),
    );
  }

  /**
   * Runs `refresh` (one background refresh attempt) inside a root span
   * `client_credentials.refresh`: the token requests it makes are its children.
   */
  refresh<T>(attributes: RefreshSpan, refresh: () => Promise<T>): Promise<T> {
    const api = this.#api;
    if (api === undefined || this.#tracer === undefined) return refresh();
    const attrs: Attributes = {
      'client_credentials.credential': attributes.credential,
      'client_credentials.tenant_id': attributes.tenantId,
      'client_credentials.previous_failures': attributes.previousFailures,
    };
    if (attributes.leg !== undefined) attrs['client_credentials.agent_leg'] = attributes.leg;
    const options = { kind: api.SpanKind.INTERNAL, attributes: attrs, root: true };
    return this.#tracer.startActiveSpan('client_credentials.refresh', options, (span) =>
      settle(api, span, refresh()),
    );
  }
}

/** Ends `span` when `work` settles, with its outcome; returns `work`'s own promise result. */
async function settle<T>(api: TraceApi, span: Span, work: Promise<T>): Promise<T> {
  try {
    const result = await work;
    const correlationId = (result as { correlationId?: unknown } | undefined)?.correlationId;
    if (typeof correlationId === 'string') {
      span.setAttribute('client_credentials.correlation_id', correlationId);
    }
    span.setAttribute('client_credentials.outcome', 'ok');
    return result;
  } catch (e) {
    const error = e as SpanError;
    if ((e as { held?: unknown }).held === true) {
      // A background refresh put off while the shared cache cannot be used: nothing failed.
      span.setAttribute('client_credentials.outcome', 'held');
      throw e;
    }
    const code = typeof error.code === 'string' ? error.code : 'internal_error';
    span.setAttribute('client_credentials.outcome', code);
    span.setAttribute('error.type', code);
    if (typeof error.aadsts === 'number')
      span.setAttribute('client_credentials.aadsts', error.aadsts);
    if (typeof error.correlationId === 'string') {
      span.setAttribute('client_credentials.correlation_id', error.correlationId);
    }
    // The code only: a message may name a file path or a tenant, which belong in logs.
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: code });
    throw e;
  } finally {
    span.end();
  }
}
