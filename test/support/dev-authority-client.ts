import { Agent, request } from 'undici';
import type { DevAuthority } from '@app/dev-authority';

/** A parsed HTTP answer; `json` is loosely typed on purpose: tests assert on its shape. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
}

/** A plain HTTPS client trusting the authority's CA, for raw token requests and API calls in tests. */
export class AuthorityHttp {
  readonly agent: Agent;

  constructor(private readonly authority: Pick<DevAuthority, 'caPem'>) {
    this.agent = new Agent({ connect: { ca: authority.caPem } });
  }

  /** POSTs a form; returns status, headers and the parsed JSON (or raw text) body. */
  async postForm(
    url: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: parse(text), text };
  }

  /** POSTs a JSON body. */
  async postJson(
    url: string,
    json: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(json),
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: parse(text), text };
  }

  /** GETs a URL with optional headers. */
  async get(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const res = await request(url, { method: 'GET', headers, dispatcher: this.agent });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: parse(text), text };
  }

  /** Calls the demo API with a bearer token. */
  callApi(apiUrl: string, token: string) {
    return this.get(`${apiUrl}/data`, { authorization: `Bearer ${token}` });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
