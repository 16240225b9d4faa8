// The peer for benchmarks/realm_fanout.py: Faye's own Node server (npm faye,
// pinned in js/package.json), mounted at /bayeux like a Fanout realm.
// Usage: node benchmarks/faye_server.mjs [port]   (0 = any free port)
// Prints "faye listening on http://127.0.0.1:PORT" once it accepts connections.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const faye = require('faye');

const bayeux = new faye.NodeAdapter({ mount: '/bayeux', timeout: 600 });
const server = http.createServer();
bayeux.attach(server);
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`faye listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
