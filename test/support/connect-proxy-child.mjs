// A real HTTP CONNECT proxy (npm `proxy`, TooTallNate) on loopback, in its own process (the
// package is ESM-only). Reports its port, then every tunnel it opens, to the parent over IPC.
import { createServer } from 'node:http';
import { createProxy } from 'proxy';

const server = createProxy(createServer());
// Every tunnel asked for is reported; only loopback targets are opened (nothing leaves this
// machine), others are refused with 407 after being counted.
const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/;
server.authenticate = (req) => req.method !== 'CONNECT' || loopback.test(req.url);
server.on('connect', (req) => process.send({ tunnel: req.url }));
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'stop') {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    // Tunnels are raw sockets the server no longer tracks: do not wait for them.
    setTimeout(() => process.exit(0), 500).unref();
  }
});
