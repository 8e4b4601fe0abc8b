import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { startDevAuthority } from '@app/dev-authority';
import { releaseAll, useFixtures } from '../support/fixtures';
import { localCredential, startTokenApp, type TokenApp } from '../support/token-app';
import { eventually } from '../support/waiting';

const [authority] = useFixtures(startDevAuthority);

/**
 * Spans through @opentelemetry/api, with the OpenTelemetry SDK as an app registers it (an
 * in-memory exporter, the AsyncLocalStorage context manager of the Node SDK): a token request is
 * a span inside the span of the call that needed it; a background refresh is a trace of its own.
 */
describe('TokenService spans through OpenTelemetry', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let app: TokenApp | undefined;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(async () => {
    await releaseAll(app);
    app = undefined;
    exporter.reset();
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

  async function start(secret?: string, lifetime?: number) {
    const tenant = authority.createTenant();
    if (lifetime !== undefined) {
      authority.setAccessTokenLifetime(lifetime, {
        tenantId: tenant.tenantId,
        refreshInSeconds: 1,
      });
    }
    const reg = tenant.createApp();
    app = await startTokenApp({
      credentials: {
        api: localCredential(authority, tenant.tenantId, reg.clientId, [
          { type: 'secret', secret: secret ?? reg.addSecret() },
        ]),
      },
      refresh: { jitter: 0, expirySkewSeconds: 1 },
      retry: { maxAttempts: 1 },
    });
    return { tenantId: tenant.tenantId, tokens: app.tokens };
  }

  it("a caller's span holds its token request; a cache hit makes no span", async () => {
    const { tenantId, tokens } = await start();
    const tracer = trace.getTracer('app');
    const handler = await tracer.startActiveSpan('GET /orders', async (span) => {
      await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope);
      span.end();
      return span.spanContext();
    });

    const [request, ...others] = named('client_credentials.token_request');
    expect(others).toEqual([]);
    expect(request.spanContext().traceId).toBe(handler.traceId);
    expect(parentOf(request)).toBe(handler.spanId);
    expect(request.attributes).toMatchObject({
      'client_credentials.credential': 'api',
      'client_credentials.source': 'secret#0',
      'client_credentials.tenant_id': tenantId,
      'client_credentials.outcome': 'ok',
    });
    expect(request.attributes['client_credentials.correlation_id']).toEqual(expect.any(String));
    expect(request.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('a refused request: its code, AADSTS number and an error status', async () => {
    const { tokens } = await start('wrong-secret-value');
    await expect(tokens.getAccessToken(authority.apiScope)).rejects.toMatchObject({
      code: 'credential_rejected',
    });
    const [request] = named('client_credentials.token_request');
    expect(request.attributes).toMatchObject({
      'client_credentials.outcome': 'credential_rejected',
      'client_credentials.aadsts': 7000215,
      'error.type': 'credential_rejected',
    });
    expect(request.status).toEqual({ code: SpanStatusCode.ERROR, message: 'credential_rejected' });
    // Codes and ids only: nothing a secret could be in.
    expect(JSON.stringify(request.attributes)).not.toContain('wrong-secret-value');
  });

  it('a background refresh is a trace of its own, holding its token request', async () => {
    const { tokens } = await start(undefined, 8);
    const tracer = trace.getTracer('app');
    const handler = await tracer.startActiveSpan('job', async (span) => {
      await tokens.getAccessToken(authority.apiScope);
      await tokens.getAccessToken(authority.apiScope); // in use: refreshed in the background
      span.end();
      return span.spanContext();
    });
    await eventually(() => named('client_credentials.refresh').length === 1);

    const [refresh] = named('client_credentials.refresh');
    expect(parentOf(refresh)).toBeUndefined();
    expect(refresh.spanContext().traceId).not.toBe(handler.traceId);
    expect(refresh.attributes).toMatchObject({
      'client_credentials.credential': 'api',
      'client_credentials.outcome': 'ok',
      'client_credentials.previous_failures': 0,
    });
    const requests = named('client_credentials.token_request');
    expect(requests.map(parentOf)).toEqual([handler.spanId, refresh.spanContext().spanId]);
  });
});
