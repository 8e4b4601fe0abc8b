import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import { DAEMON_CONFIG, type DaemonConfiguration } from '../config/daemon.config';

/** What the protected API answered. */
export interface ApiAnswer {
  status: number;
  body: unknown;
  ms: number;
}

/** The API the workers call with their tokens: `GET <api.url>/data`. */
@Injectable()
export class ProtectedApiClient implements OnApplicationShutdown {
  private readonly agent: Agent;
  readonly url: string;

  constructor(@Inject(DAEMON_CONFIG) config: DaemonConfiguration) {
    this.url = `${config.api.url}/data`;
    // Extra CAs are added to the public roots, never instead of them.
    const ca = config.apiCa === undefined ? undefined : [...rootCertificates, config.apiCa];
    this.agent = new Agent({
      connect: ca === undefined ? {} : { ca },
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  }

  /** GETs the data with `authorization`; resolves with any HTTP status. */
  async getData(authorization: string, signal?: AbortSignal): Promise<ApiAnswer> {
    const started = Date.now();
    const res = await request(this.url, {
      headers: { authorization },
      dispatcher: this.agent,
      signal,
    });
    const text = await res.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.statusCode, body, ms: Date.now() - started };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }
}
