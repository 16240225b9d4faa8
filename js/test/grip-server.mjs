// A small HTTP server speaking the browser side of the GRIP stream endpoint
// (the protocol page's "The stream endpoint"): what a browser sees from
// Pushpin in front of the app. Real sockets on 127.0.0.1, for the real
// EventSource of the `eventsource` package and Node's fetch. It records what
// it receives, and can misbehave the ways proxies do: answer non-200, cut the
// connection, buffer the stream, deny channels.
import http from 'node:http';

export async function startGripServer({ keepAlive = 0, longPollTimeout = 3000, retry = 200 } = {}) {
  const streams = new Set(); // { channels, res }
  const polls = new Set(); // { channels, res, timer }
  const state = {
    requests: [], // { mode, channels, cookie, at }
    denied: new Set(),
    failNext: 0, // answer the next N requests with 503
    buffer: false, // hold streams and send nothing (a buffering proxy)
  };
  const sockets = new Set();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const channels = url.searchParams.getAll('channel');
    const mode = url.searchParams.get('mode') === 'poll' ? 'poll' : 'stream';
    state.requests.push({ mode, channels, cookie: req.headers.cookie, at: Date.now() });
    if (url.pathname !== '/_fanout/events' || !channels.length) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request');
      return;
    }
    if (state.failNext > 0) {
      state.failNext -= 1;
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('unavailable');
      return;
    }
    const allowed = channels.filter((c) => !state.denied.has(c));
    const denied = channels.filter((c) => state.denied.has(c));
    if (mode === 'poll') {
      const body = (hints) => JSON.stringify({ channels: allowed, denied, hints, retry: null });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      if (denied.length) return res.end(body([]));
      const poll = { channels: allowed, res };
      poll.timer = setTimeout(() => {
        polls.delete(poll);
        res.end(body([]));
      }, longPollTimeout);
      polls.add(poll);
      req.on('close', () => {
        clearTimeout(poll.timer);
        polls.delete(poll);
      });
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    if (state.buffer) {
      // Headers through, everything else held back.
      const stream = { channels: [], res, buffered: true };
      streams.add(stream);
      req.on('close', () => streams.delete(stream));
      return;
    }
    res.write(`retry: ${retry}\nevent: ready\ndata: ${JSON.stringify({ channels: allowed, denied })}\n\n`);
    if (!allowed.length) return res.end();
    const stream = { channels: allowed, res };
    if (keepAlive) stream.timer = setInterval(() => res.write('event: keep-alive\ndata: {}\n\n'), keepAlive);
    streams.add(stream);
    req.on('close', () => {
      clearInterval(stream.timer);
      streams.delete(stream);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));

  return {
    url: `http://127.0.0.1:${server.address().port}/_fanout/events`,
    state,
    get streams() {
      return [...streams].filter((s) => !s.buffered);
    },
    get polls() {
      return [...polls];
    },
    /** Publishes like a GRIP proxy: to every held stream and long-poll on `channel`. Returns the receivers. */
    publish(channel, data) {
      let receivers = 0;
      const hint = JSON.stringify({ channel, data });
      for (const s of streams) {
        if (s.channels.includes(channel)) {
          s.res.write(`event: message\ndata: ${hint}\n\n`);
          receivers += 1;
        }
      }
      for (const p of [...polls]) {
        if (p.channels.includes(channel)) {
          clearTimeout(p.timer);
          polls.delete(p);
          p.res.end(JSON.stringify({ hints: [{ channel, data }] }));
          receivers += 1;
        }
      }
      return receivers;
    },
    /** Cuts every connection (a proxy restart): EventSource sees a network error. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    stop() {
      for (const s of streams) clearInterval(s.timer);
      for (const p of polls) clearTimeout(p.timer);
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}
