// The module with the real Faye client (Node build) against our local realm
// (`python -m flask_fanout.realm`), with a TCP proxy in between for the
// WebSocket failure cases. Fallback timings are measured and printed.
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { freshModule, nextEvent, publish, require, startProxy, startRealm, trackedFaye, waitFor } from './helpers.mjs';

let realm;
let noWsRealm;
before(async () => {
  [realm, noWsRealm] = await Promise.all([startRealm(), startRealm(['--no-websocket'])]);
});
after(async () => {
  await Promise.all([realm?.stop(), noWsRealm?.stop()]);
});

let channelCount = 0;
const uniqueChannel = (base = 'chan') => `${base}-${process.pid}-${++channelCount}`;

async function stats(url) {
  const response = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(5000) });
  return response.json();
}

/** A client of its own (the built module's createClient) talking to `bayeux` through real Faye; closed by the test. */
async function setup(t, bayeuxBase, extra = {}) {
  const Fanout = (await freshModule()).createClient();
  const faye = trackedFaye(extra.fayeVersion);
  Fanout.configure({ Faye: faye.Faye, bayeuxUrl: `${bayeuxBase}/bayeux`, ...extra.config });
  t.after(() => faye.close());
  return { Fanout, faye };
}

/** Publishes on `channel` every `every` ms until stopped (so a message is always in flight). */
function publisher(url, channel, every = 100) {
  let n = 0;
  let running = true;
  const sent = [];
  const loop = (async () => {
    while (running) {
      n += 1;
      const at = Date.now();
      await publish(url, channel, { n }).catch(() => {});
      sent.push([n, at]);
      await new Promise((r) => setTimeout(r, every));
    }
  })();
  return {
    sent,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

test('WebSocket first: the transport is a WebSocket and messages arrive', async (t) => {
  const { Fanout } = await setup(t, realm.url);
  const channel = uniqueChannel();
  const got = [];
  const connected = nextEvent(Fanout, 'connected');
  Fanout.subscribe(channel, (data, name) => got.push([data, name]));
  await connected;
  await waitFor(() => Fanout.transport === 'websocket', { what: 'the websocket transport' });
  await waitFor(async () => (await stats(realm.url)).subscribers[`/${channel}`] >= 1, { what: 'subscription' });
  await publish(realm.url, channel, { hello: 1 });
  await waitFor(() => got.length === 1, { what: 'the message' });
  assert.deepEqual(got, [[{ hello: 1 }, channel]]);
  assert.equal(Fanout.state, 'connected');
});

test('a refused WebSocket (realm --no-websocket) falls back to long-polling', async (t) => {
  const { Fanout } = await setup(t, noWsRealm.url);
  const channel = uniqueChannel();
  const got = [];
  const start = Date.now();
  Fanout.subscribe(channel, (data) => got.push([Date.now(), data]), { throttle: 0 });
  const pub = publisher(noWsRealm.url, channel, 50);
  try {
    await waitFor(() => got.length >= 1, { timeout: 15000, what: 'the first message' });
  } finally {
    await pub.stop();
  }
  const ms = got[0][0] - start;
  t.diagnostic(`refused WebSocket at start: first message ${ms} ms after subscribe (transport ${Fanout.transport})`);
  console.log(`MEASURED refused-websocket time-to-first-message: ${ms} ms`);
  assert.equal(Fanout.transport, 'long-polling');
  assert.equal(Fanout.state, 'connected');
  assert.ok(ms < 5000, `${ms} ms`);
});

test('a proxy that refuses WebSocket upgrades: long-polling through the proxy', async (t) => {
  const proxy = await startProxy(realm.url, { refuseWebSocket: true });
  t.after(() => proxy.stop());
  const { Fanout } = await setup(t, proxy.url);
  const channel = uniqueChannel();
  const got = [];
  const start = Date.now();
  Fanout.subscribe(channel, (data) => got.push([Date.now(), data]), { throttle: 0 });
  const pub = publisher(realm.url, channel, 50);
  try {
    await waitFor(() => got.length >= 1, { timeout: 15000, what: 'the first message' });
  } finally {
    await pub.stop();
  }
  const ms = got[0][0] - start;
  console.log(`MEASURED refused-upgrade (proxy) time-to-first-message: ${ms} ms`);
  assert.ok(proxy.state.refused >= 1, 'the client did try a WebSocket');
  assert.equal(Fanout.transport, 'long-polling');
  assert.ok(ms < 5000, `${ms} ms`);
});

test('a killed WebSocket falls back to HTTP mid-session, keeping every subscription', async (t) => {
  const proxy = await startProxy(realm.url);
  t.after(() => proxy.stop());
  const { Fanout } = await setup(t, proxy.url);
  const [a, b] = [uniqueChannel('a'), uniqueChannel('b')];
  const gotA = [];
  const gotB = [];
  const events = [];
  let refreshes = 0;
  Fanout.on('state', (now) => events.push(now));
  t.after(Fanout.poll(() => (refreshes += 1), { interval: 3600000, connectedInterval: 3600000 }));
  Fanout.subscribe(a, (data) => gotA.push([Date.now(), data]), { throttle: 0 });
  Fanout.subscribe(b, (data) => gotB.push([Date.now(), data]), { throttle: 0 });
  await waitFor(() => Fanout.transport === 'websocket' && Fanout.state === 'connected', { what: 'websocket' });
  await waitFor(async () => {
    const s = (await stats(realm.url)).subscribers;
    return s[`/${a}`] >= 1 && s[`/${b}`] >= 1;
  }, { what: 'both subscriptions' });
  await publish(realm.url, a, { n: 0 });
  await waitFor(() => gotA.length === 1, { what: 'a message before the kill' });
  assert.equal(refreshes, 0);

  const killedAt = Date.now();
  proxy.killWebSockets();
  const pub = publisher(realm.url, a, 100);
  try {
    await waitFor(() => gotA.length >= 2, { timeout: 15000, what: 'a message after the kill' });
    // Keep going until a message published after the fallback has arrived.
    const mark = gotA.length;
    await waitFor(() => gotA.length > mark, { timeout: 5000, what: 'messages to keep arriving' });
  } finally {
    await pub.stop();
  }
  const recovery = gotA[1][0] - killedAt;
  console.log(`MEASURED mid-session WebSocket kill time-to-recovery: ${recovery} ms (transport ${Fanout.transport})`);
  assert.ok(recovery < 6000, `recovered in ${recovery} ms`);
  assert.equal(Fanout.transport, 'long-polling');
  // The other channel's subscription survived too.
  await publish(realm.url, b, { still: 'here' });
  await waitFor(() => gotB.some(([, d]) => d.still === 'here'), { what: 'the other channel' });
  assert.ok(events.includes('disconnected'));
  assert.equal(events.at(-1), 'connected');
  assert.equal(refreshes, 1, 'the poll fallback refreshed once on return');
  // Nothing published during the outage was lost: the last message is the last one sent.
  await waitFor(() => gotA.at(-1)[1].n === pub.sent.at(-1)[0], { what: 'the last message' });
});

test('a WebSocket that opens but carries nothing is given up after connectTimeout', async (t) => {
  const proxy = await startProxy(realm.url, { blackholeWebSocket: true });
  t.after(() => proxy.stop());
  const { Fanout } = await setup(t, proxy.url, { config: { connectTimeout: 1000 } });
  const channel = uniqueChannel();
  const got = [];
  const start = Date.now();
  Fanout.subscribe(channel, (data) => got.push([Date.now(), data]), { throttle: 0 });
  const pub = publisher(realm.url, channel, 100);
  try {
    await waitFor(() => got.length >= 1, { timeout: 15000, what: 'the first message' });
  } finally {
    await pub.stop();
  }
  const ms = got[0][0] - start;
  console.log(`MEASURED black-holed WebSocket (connectTimeout 1 s) time-to-first-message: ${ms} ms`);
  assert.ok(proxy.state.upgrades >= 1, 'the WebSocket was opened');
  assert.equal(Fanout.transport, 'long-polling');
  assert.ok(ms < 5000, `${ms} ms`);
});

test("transportMode 'upgrade' is stock Faye: no fallback of ours after a kill", async (t) => {
  const proxy = await startProxy(realm.url);
  t.after(() => proxy.stop());
  const { Fanout } = await setup(t, proxy.url, { config: { transportMode: 'upgrade', fallbackDelay: 100 } });
  Fanout.subscribe(uniqueChannel(), () => {});
  await waitFor(() => Fanout.transport === 'websocket' && Fanout.state === 'connected', { what: 'websocket' });
  const down = nextEvent(Fanout, 'disconnected');
  proxy.killWebSockets();
  await down;
  // Faye #376: stock Faye keeps retrying the WebSocket; we must not interfere.
  await waitFor(() => proxy.state.refused >= 1, { what: 'a retried upgrade' });
  assert.equal(Fanout.transport, 'websocket');
  assert.equal(Fanout.state, 'disconnected');
});

test('a burst of 100 messages in one second through the realm: the last data always lands', async (t) => {
  const { Fanout } = await setup(t, realm.url);
  const channel = uniqueChannel();
  const calls = [];
  Fanout.subscribe(channel, (data) => calls.push([Date.now(), data.n]));
  await waitFor(() => Fanout.state === 'connected', { what: 'connection' });
  await waitFor(async () => (await stats(realm.url)).subscribers[`/${channel}`] >= 1, { what: 'subscription' });
  const start = Date.now();
  for (let n = 0; n < 100; n++) {
    publish(realm.url, channel, { n });
    await new Promise((r) => setTimeout(r, 10));
  }
  await waitFor(() => calls.at(-1)?.[1] === 99, { what: 'the last message' });
  const span = calls.at(-1)[0] - start;
  // One call per 500 ms window at most, plus the leading one.
  assert.ok(calls.length <= Math.ceil(span / 500) + 1, `${calls.length} calls in ${span} ms`);
  assert.ok(calls.length <= 4, `${calls.length} calls`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] - calls[i - 1][0] >= 450, 'calls a window apart');
});

test('the channel prefix is added on subscribe; callbacks get the logical name', async (t) => {
  const { Fanout } = await setup(t, realm.url, { config: { channelPrefix: 'staging_' } });
  const channel = uniqueChannel();
  const got = [];
  Fanout.subscribe(channel, (data, name) => got.push([data, name]));
  await waitFor(async () => (await stats(realm.url)).subscribers[`/staging_${channel}`] >= 1, { what: 'subscription' });
  await publish(realm.url, `staging_${channel}`, 1);
  await waitFor(() => got.length === 1, { what: 'the message' });
  assert.deepEqual(got, [[1, channel]]);
});

test('unsubscribe: per subscriber, idempotent, and the last one leaves the Bayeux channel', async (t) => {
  const { Fanout } = await setup(t, realm.url);
  const channel = uniqueChannel();
  const never = uniqueChannel('never');
  const got1 = [];
  const got2 = [];
  // Unsubscribed before Faye even connects: never subscribed on the realm.
  Fanout.subscribe(never, () => assert.fail('unsubscribed callback called'))();
  const stop1 = Fanout.subscribe(channel, (d) => got1.push(d), { throttle: 0 });
  const stop2 = Fanout.subscribe(channel, (d) => got2.push(d), { throttle: 0 });
  await waitFor(async () => (await stats(realm.url)).subscribers[`/${channel}`] >= 1, { what: 'subscription' });
  await publish(realm.url, channel, 1);
  await waitFor(() => got1.length === 1 && got2.length === 1, { what: 'both callbacks' });
  stop1();
  stop1();
  await publish(realm.url, channel, 2);
  await waitFor(() => got2.length === 2, { what: 'the remaining callback' });
  assert.deepEqual(got1, [1]);
  stop2();
  await waitFor(async () => {
    const s = (await stats(realm.url)).subscribers;
    return !s[`/${channel}`] && !s[`/${never}`];
  }, { what: 'the realm to drop both channels' });
});

test("Fanout's fork (VERSION contains 'fanout') gets transportMode; stock Faye never does", async (t) => {
  const fork = await setup(t, realm.url, { fayeVersion: '1.1.2-fanout1', config: { transportMode: 'fallback' } });
  fork.Fanout.subscribe(uniqueChannel(), () => {});
  assert.deepEqual(fork.faye.options, [{ transportMode: 'fallback' }]);
  const stock = await setup(t, realm.url, { config: { transportMode: 'upgrade' } });
  stock.Fanout.subscribe(uniqueChannel(), () => {});
  assert.deepEqual(stock.faye.options, [{}]);
  await waitFor(() => stock.Fanout.state === 'connected', { what: 'connection' });
});

test('a Faye that throws on construction is a load failure, and a later subscribe retries', async (t) => {
  const Fanout = (await freshModule()).createClient();
  const errors = [];
  Fanout.on('error', (e) => errors.push(e));
  // Stock Faye announcing itself as the fork gets `transportMode`, which it
  // rejects: the kind of mismatch a different Faye build brings.
  const Stock = require('faye');
  Fanout.configure({ Faye: { VERSION: '1.1.2-fanout1', Client: Stock.Client }, bayeuxUrl: `${realm.url}/bayeux` });
  const channel = uniqueChannel();
  const got = [];
  Fanout.subscribe(channel, (data) => got.push(data), { throttle: 0 });
  assert.equal(Fanout.state, 'failed');
  assert.match(String(errors[0]?.message), /transportMode/);
  // With a usable Faye, the next subscribe connects, and the earlier
  // subscription is served by the same client.
  const faye = trackedFaye();
  t.after(() => faye.close());
  Fanout.configure({ Faye: faye.Faye });
  Fanout.subscribe(uniqueChannel(), () => {});
  await waitFor(async () => (await stats(realm.url)).subscribers[`/${channel}`] >= 1, { what: 'subscription' });
  await publish(realm.url, channel, 7);
  await waitFor(() => got.length === 1, { what: 'the message' });
  assert.deepEqual(got, [7]);
  assert.equal(Fanout.state, 'connected');
  assert.equal(errors.length, 1);
});

test('debug logs transport changes to the console', async (t) => {
  const info = mock.method(console, 'info', () => {});
  t.after(() => info.mock.restore());
  const { Fanout } = await setup(t, realm.url);
  Fanout.debug = true;
  Fanout.subscribe(uniqueChannel(), () => {});
  await waitFor(() => Fanout.transport === 'websocket', { what: 'websocket' });
  const lines = info.mock.calls.map((c) => c.arguments.join(' '));
  assert.ok(lines.some((l) => /\[fanout\] state \w+ -> \w+ websocket$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /\[fanout\] state \w+ -> connected \S+$/.test(l)), lines.join('\n'));
});
