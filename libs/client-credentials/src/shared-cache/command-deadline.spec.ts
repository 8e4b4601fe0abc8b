import { createConnection, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CommandDeadline, OperationTimeout } from './command-deadline';

/** Both ends of a loopback TCP connection: `server` speaks, `client` listens. */
async function socketPair(): Promise<{ client: Socket; server: Socket; close(): Promise<void> }> {
  let accepted!: (s: Socket) => void;
  const serverSide = new Promise<Socket>((resolve) => (accepted = resolve));
  const listener = createServer(accepted);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const client = createConnection((listener.address() as AddressInfo).port, '127.0.0.1');
  const server = await serverSide;
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

/** A command whose answer is what `client` receives next. */
const answerOf = (client: Socket) => () =>
  new Promise<string>((resolve) => client.once('data', (d) => resolve(String(d))));

describe('CommandDeadline', () => {
  it('lets an answer that came in time win when this process was busy past the deadline', async () => {
    const pair = await socketPair();
    try {
      const deadline = new CommandDeadline('reading', 20);
      const answer = deadline.race(answerOf(pair.client));
      // Redis answers at once (the bytes are in the client's socket now); this process, busy,
      // looks 100 ms later: the deadline's timer and the answer are both ready.
      pair.server.write('OK');
      const until = Date.now() + 100;
      while (Date.now() < until);
      await expect(answer).resolves.toBe('OK');
      deadline.clear();
    } finally {
      await pair.close();
    }
  });

  it('gives up a command that gets no answer', async () => {
    const pair = await socketPair();
    try {
      const deadline = new CommandDeadline('reading', 20);
      await expect(deadline.race(answerOf(pair.client))).rejects.toBeInstanceOf(OperationTimeout);
      deadline.clear();
    } finally {
      await pair.close();
    }
  });
});
