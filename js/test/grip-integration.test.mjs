// The built GRIP module over real HTTP: a WHATWG EventSource (npm
// `eventsource`) and Node's fetch against a small server speaking the stream
// endpoint's protocol (grip-server.mjs). Timings are measured and printed.
// (Pushpin itself and the browser are the Chromium end-to-end suite's.)
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startGripServer } from './grip-server.mjs';
import { built, freshModule, waitFor } from './helpers.mjs';

const { createClient } = await freshModule(built('grip', 'mjs'));

let cleanups = [];
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn();
  cleanups = [];
});

async function setup(serverOptions = {}, config = {}) {
  const server = await startGripServer(serverOptions);
  cleanups.push(() => server.stop());
  const client = createClient({ backend: 'grip', streamUrl: server.url, EventSource, throttle: 0, ...config });
  const offs = [];
  // Unsubscribing everything closes the stream and ends every timer.
  cleanups.push(async () => {
    offs.forEach((off) => off());
    await waitFor(() => client.state === 'idle' || client.state === 'failed', { what: 'the client to stop' });
  });
  const got = [];
  const subscribe = (channel) => offs.push(client.subscribe(channel, (data, c) => got.push([c, data])));
  return { server, client, got, subscribe };
}

test('connected on ready; a publish arrives; one stream for all channels', async () => {
  const { server, client, got, subscribe } = await setup();
  const start = Date.now();
  subscribe('a');
  subscribe('b');
  await waitFor(() => client.state === 'connected', { what: 'connected' });
  console.log(`MEASURED GRIP subscribe-to-connected over real HTTP: ${Date.now() - start} ms`);
  assert.equal(server.state.requests.length, 1);
  assert.deepEqual(server.state.requests[0].channels, ['a', 'b']);
  const sent = Date.now();
  assert.equal(server.publish('b', { n: 1 }), 1);
  await waitFor(() => got.length === 1, { what: 'the hint' });
  console.log(`MEASURED GRIP publish-to-callback over real HTTP: ${Date.now() - sent} ms`);
  assert.deepEqual(got, [['b', { n: 1 }]]);
  assert.equal(client.transport, 'eventsource');
});

test('a new channel reopens the stream with no hint falling between the two streams', async () => {
  const { server, client, got, subscribe } = await setup();
  subscribe('a');
  await waitFor(() => client.state === 'connected', { what: 'connected' });
  let n = 0;
  const timer = setInterval(() => server.publish('a', { n: ++n }), 5);
  try {
    await waitFor(() => got.length >= 3, { what: 'hints flowing' });
    subscribe('b');
    await waitFor(() => server.state.requests.length === 2 && server.streams.length === 1, { what: 'the reopen done' });
    const mark = n;
    await waitFor(() => got.some(([, d]) => d.n > mark + 5), { what: 'hints on the new stream' });
  } finally {
    clearInterval(timer);
  }
  const seen = new Set(got.map(([, d]) => d.n));
  const first = Math.min(...seen);
  const last = Math.max(...seen);
  for (let i = first; i <= last; i++) assert.ok(seen.has(i), `hint ${i} was lost in the reopen`);
  assert.deepEqual(server.state.requests[1].channels, ['a', 'b']);
  assert.equal(client.state, 'connected');
});

test('a non-200 answer (EventSource closes for good): our own reconnect with backoff', async () => {
  const { server, client, subscribe } = await setup();
  server.state.failNext = 1;
  const start = Date.now();
  subscribe('a');
  await waitFor(() => client.state === 'connected', { what: 'reconnected', timeout: 5000 });
  const took = Date.now() - start;
  console.log(`MEASURED GRIP reconnect after one 503: ${took} ms (backoff 1 s + up to 1 s jitter)`);
  assert.equal(server.state.requests.length, 2);
  assert.ok(took >= 1000 && took < 2500, `${took} ms`);
});

test('a cut connection: EventSource reconnects by itself (the server says retry 200 ms), and pollers refresh', async () => {
  const { server, client, got, subscribe } = await setup();
  let refreshes = 0;
  const stopPolling = client.poll(() => (refreshes += 1), { interval: 3600000, connectedInterval: 3600000 });
  cleanups.push(stopPolling);
  subscribe('a');
  await waitFor(() => client.state === 'connected', { what: 'connected' });
  const cutAt = Date.now();
  server.cut();
  await waitFor(() => client.state === 'disconnected', { what: 'disconnected' });
  await waitFor(() => client.state === 'connected', { what: 'back' });
  console.log(`MEASURED GRIP native reconnect after a cut: ${Date.now() - cutAt} ms`);
  assert.equal(refreshes, 1);
  server.publish('a', 'after');
  await waitFor(() => got.length === 1, { what: 'a hint after the return' });
});

test('a denied channel: one error, the others work; every channel denied: closed, no reconnect loop', async () => {
  const { server, client, got, subscribe } = await setup();
  server.state.denied.add('private');
  const errors = [];
  client.on('error', (e) => errors.push(e.channel));
  subscribe('public');
  subscribe('private');
  await waitFor(() => client.state === 'connected', { what: 'connected' });
  server.publish('public', 1);
  server.publish('private', 2);
  await waitFor(() => got.length === 1, { what: 'the public hint' });
  assert.deepEqual(errors, ['private']);

  const solo = await setup();
  solo.server.state.denied.add('secret');
  solo.subscribe('secret');
  await waitFor(() => solo.client.state === 'failed', { what: 'failed' });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(solo.server.state.requests.length, 1, 'no reconnect after the all-denied ready');
});

test('a buffered stream falls back to long-polling; polls overlap; hints keep arriving', async () => {
  const { server, client, got, subscribe } = await setup({ longPollTimeout: 3000 }, { connectTimeout: 500, longPollTimeout: 3000 });
  server.state.buffer = true;
  const start = Date.now();
  subscribe('a');
  await waitFor(() => server.polls.length === 1, { what: 'a long-poll' });
  console.log(`MEASURED GRIP buffered stream -> first long-poll: ${Date.now() - start} ms (connectTimeout 500)`);
  await waitFor(() => client.state === 'connected', { what: 'held 2 s' });
  assert.equal(client.transport, 'long-polling');
  // Publish every 100 ms for 4 s: across answers and renewals, nothing is lost.
  let n = 0;
  const timer = setInterval(() => server.publish('a', { n: ++n }), 100);
  await new Promise((r) => setTimeout(r, 4000));
  clearInterval(timer);
  await waitFor(() => got.some(([, d]) => d?.n === n), { what: 'the last hint' });
  const seen = new Set(got.filter(([, d]) => d).map(([, d]) => d.n));
  const missed = [];
  for (let i = 1; i <= n; i++) if (!seen.has(i)) missed.push(i);
  // A hint published while no poll is held is not delivered itself, but the
  // resync (null data) that follows covers it.
  const resyncs = got.filter(([, d]) => d === null).length;
  console.log(`MEASURED GRIP long-poll: ${n} published, ${seen.size} delivered as hints, ${missed.length} covered by ${resyncs} resyncs`);
  assert.ok(missed.length === 0 || resyncs > 0);
  const polls = server.state.requests.filter((r) => r.mode === 'poll');
  assert.ok(polls.length >= 3, `${polls.length} polls`);
});

test('the long-poll gap: a hint published between two polls is covered by the resync', async () => {
  const { server, client, got, subscribe } = await setup({ longPollTimeout: 3000 }, { transportMode: 'poll', longPollTimeout: 3000 });
  subscribe('a');
  await waitFor(() => client.state === 'connected', { what: 'connected' });
  server.publish('a', 'first');
  // Right after the answer, before the next poll can be held.
  server.publish('a', 'in the gap');
  await waitFor(() => got.length === 2, { what: 'the hint and the resync', timeout: 5000 });
  assert.deepEqual(got, [['a', 'first'], ['a', null]]);
});
