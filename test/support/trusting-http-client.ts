import { Agent } from 'node:https';
import {
  createDefaultHttpClient,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';

/**
 * An Azure SDK `HttpClient` (for @azure/identity's `httpClient` option) that trusts the local
 * authority's CA through a dedicated https.Agent, without touching process-wide TLS settings.
 */
export function trustingHttpClient(caPem: string): HttpClient & { close(): void } {
  const agent = new Agent({ ca: caPem, keepAlive: false });
  const inner = createDefaultHttpClient();
  return {
    sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      request.agent = agent;
      return inner.sendRequest(request);
    },
    close() {
      agent.destroy();
    },
  };
}
