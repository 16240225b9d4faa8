// A real Faye Node client driven by pytest, one JSON command per stdin line
// and one JSON event per stdout line. Usage:
//   node faye_client.mjs <bayeux url> <websocket|long-polling>
// Faye comes from js/node_modules (npm faye, pinned by js/package.json).
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../../../js/package.json', import.meta.url));
const faye = require('faye');

const [url, transport] = process.argv.slice(2);
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

const client = new faye.Client(url, { timeout: 5, retry: 0.5 });
if (transport === 'long-polling') client.disable('websocket');
client.disable('autodisconnect');

// Report every meta reply, so tests can see handshakes and errors.
client.addExtension({
  incoming(message, callback) {
    if (message.channel && message.channel.startsWith('/meta/')) {
      emit({ event: 'meta', message });
    }
    callback(message);
  },
});
client.on('transport:up', () => emit({ event: 'up' }));
client.on('transport:down', () => emit({ event: 'down' }));

const subscriptions = new Map();

function run(command) {
  switch (command.op) {
    case 'subscribe': {
      const sub = client.subscribe(command.channel, (data) => {
        emit({ event: 'message', subscription: command.channel, data });
      });
      sub.then(
        () => emit({ event: 'subscribed', channel: command.channel }),
        (error) => emit({ event: 'subscribe_error', channel: command.channel, error: String(error && error.message) }),
      );
      subscriptions.set(command.channel, sub);
      break;
    }
    case 'unsubscribe': {
      const sub = subscriptions.get(command.channel);
      if (sub) sub.cancel();
      subscriptions.delete(command.channel);
      emit({ event: 'unsubscribing', channel: command.channel });
      break;
    }
    case 'publish':
      client.publish(command.channel, command.data).then(
        () => emit({ event: 'published', channel: command.channel }),
        (error) => emit({ event: 'publish_error', channel: command.channel, code: error && error.code, error: String(error && error.message) }),
      );
      break;
    case 'connect':
      client.connect(() => emit({ event: 'connected', clientId: client._dispatcher.clientId }));
      break;
    case 'exit':
      client.disconnect();
      setTimeout(() => process.exit(0), 50);
      break;
    default:
      emit({ event: 'unknown_command', command });
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim()) run(JSON.parse(line));
});
process.stdin.on('end', () => process.exit(0));
emit({ event: 'ready' });
