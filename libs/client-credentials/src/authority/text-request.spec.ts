import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { requestText } from './text-request';

describe('requestText', () => {
  let server: Server;
  let origin: string;
  let agent: Agent;
  let received: string[];
  let held: ServerResponse[];

  beforeEach(async () => {
    received = [];
    held = [];
    server = createServer((req, res) => {
      received.push(req.url ?? '');
      if (req.url === '/hold') held.push(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // One connection: a second request queues behind the first.
    agent = new Agent({ connections: 1 });
  });

  afterEach(async () => {
    for (const res of held) res.end('{}');
    await agent.destroy();
    await new Promise((r) => server.close(r));
  });

  const send = (path: string, timeoutMs: number) =>
    requestText(agent, {
      method: 'POST',
      url: `${origin}${path}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
      timeoutMs,
      maxBytes: 1024,
      tooLarge: () => new Error('too large'),
    });

  it('answers with status, lower-case headers and the body as text', async () => {
    const res = await send('/token', 5_000);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.text).toBe('{"ok":true}');
  });

  it('fails a request whose deadline passes while it waits for a connection, and never sends it', async () => {
    const first = send('/hold', 60_000);
    const firstSettled = first.then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 50));
    // The only connection is held by the first request: this one waits in the pool's queue and
    // must fail at its own deadline, while the first is still unanswered.
    const queued = await send('/queued', 100).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    expect(queued).toBe('TimeoutError');
    expect(held).toHaveLength(1);
    held[0].end('{}');
    expect(await firstSettled).toBe('answered');
    // The connection is free again: the next request goes out; the timed-out one never did.
    await send('/token', 5_000);
    expect(received).toEqual(['/hold', '/token']);
  });
});
