// The GRIP transport's state machine, with a scripted EventSource and fetch
// and fake timers: one stream for every channel, debounced reopen with the new
// stream opened before the old one closes, denied channels, reconnects and
// their backoff, the stream-first fallback (at the start and mid-session),
// and long-polling with overlap and resync.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { internals } from './helpers.mjs';

const { createClient, backoff } = await internals();

/** An EventSource the test drives: open, ready, events, errors (readyState 0 = native retry, 2 = closed for good). */
class FakeES {
  static all = [];
  constructor(url, options) {
    Object.assign(this, { url, options, readyState: 0, listeners: {}, closed: false, at: Date.now() });
    FakeES.all.push(this);
  }
  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }
  get channels() {
    return new URL(this.url, 'http://page.test').searchParams.getAll('channel');
  }
  emit(type, data) {
    assert.ok(!this.closed, `event ${type} on a closed EventSource`);
    this.readyState = 1;
    for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data) });
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  ready(channels = this.channels, denied = []) {
    this.open();
    this.emit('ready', { channels, denied });
  }
  hint(channel, data) {
    this.emit('message', { channel, data });
  }
  fail(readyState) {
    this.readyState = readyState;
    this.onerror?.();
  }
  close() {
    this.readyState = 2;
    this.closed = true;
  }
}
const streams = () => FakeES.all;
const lastStream = () => FakeES.all.at(-1);

/** fetch() for long-polls: each call is a pending request the test answers or fails. */
let requests;
function fakeFetch(url, options) {
  return new Promise((resolve, reject) => {
    const request = {
      url,
      options,
      at: Date.now(),
      aborted: false,
      channels: new URL(url, 'http://page.test').searchParams.getAll('channel'),
      answer: (body, status = 200) => resolve({ status, json: async () => body }),
      fail: () => reject(new TypeError('network error')),
    };
    options.signal.addEventListener('abort', () => {
      request.aborted = true;
      reject(new DOMException('aborted', 'AbortError'));
    });
    requests.push(request);
  });
}
const pending = () => requests.filter((r) => !r.aborted && !r.done);
const answer = async (request, body, status) => {
  request.done = true;
  request.answer(body, status);
  await flush();
};

// Lets promise callbacks (fetch answers) run; setImmediate is not mocked.
const flush = () => new Promise((r) => setImmediate(r));
// Node's mock clock runs timers due within one tick at the tick's end, so
// long waits are advanced in steps.
async function advance(ms, step = 250) {
  for (; ms > 0; ms -= step) {
    mock.timers.tick(Math.min(step, ms));
    await flush();
  }
}

let realFetch;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  FakeES.all = [];
  requests = [];
  realFetch = globalThis.fetch;
  globalThis.fetch = fakeFetch;
});
afterEach(() => {
  globalThis.fetch = realFetch;
  mock.timers.reset();
  mock.restoreAll();
});

function grip(extra = {}, { es = FakeES } = {}) {
  const client = createClient({ backend: 'grip', share: false, throttle: 0, EventSource: es, ...extra });
  const log = [];
  client.on('state', (now) => log.push(now));
  const errors = [];
  client.on('error', (e) => errors.push(e));
  return { client, log, errors };
}

test('one stream carries every channel: opened once after the debounce, with credentials; connected on ready', async () => {
  const { client, log } = grip({ streamUrl: 'https://stream.test/_fanout/events' });
  const got = [];
  for (const c of ['a', 'b', 'c$@']) client.subscribe(c, (data, channel) => got.push([channel, data]));
  assert.equal(streams().length, 0, 'debounced');
  await advance(50);
  assert.equal(streams().length, 1);
  const es = lastStream();
  assert.equal(es.url, 'https://stream.test/_fanout/events?channel=a&channel=b&channel=c%24%40');
  assert.deepEqual(es.channels, ['a', 'b', 'c$@']);
  assert.deepEqual(es.options, { withCredentials: true });
  assert.equal(client.state, 'connecting');
  assert.equal(client.transport, 'eventsource');
  es.open();
  assert.equal(client.state, 'connecting', 'an open socket is not yet connected');
  es.ready();
  assert.equal(client.state, 'connected');
  es.hint('b', { n: 1 });
  assert.deepEqual(got, [['b', { n: 1 }]]);
  assert.deepEqual(log, ['connecting', 'connected']);
});

test('a stream URL with a query of its own gets the channels appended', async () => {
  const { client } = grip({ streamUrl: '/events?tenant=7' });
  client.subscribe('a', () => {});
  await advance(50);
  assert.equal(lastStream().url, '/events?tenant=7&channel=a');
});

test('a change of channels reopens once; the old stream serves until the new one is ready', async () => {
  const { client, log } = grip();
  const got = [];
  client.subscribe('a', (data) => got.push(data));
  await advance(50);
  const first = lastStream();
  first.ready();
  client.subscribe('b', () => {});
  client.subscribe('c', () => {});
  await advance(50);
  assert.equal(streams().length, 2, 'one reopen for both changes');
  const second = lastStream();
  assert.deepEqual(second.channels, ['a', 'b', 'c']);
  assert.equal(first.closed, false, 'old stream kept while the new one opens');
  first.hint('a', 'between');
  assert.deepEqual(got, ['between']);
  second.ready();
  assert.equal(first.closed, true, 'closed once the new one is ready');
  second.hint('a', 'after');
  await advance(1);
  assert.deepEqual(got, ['between', 'after']);
  assert.deepEqual(log, ['connecting', 'connected'], 'no state change during a reopen');
});

test('a channel that leaves and comes back within the debounce changes nothing', async () => {
  const { client } = grip();
  client.subscribe('a', () => {});
  await advance(50);
  lastStream().ready();
  client.subscribe('x', () => {})();
  await advance(500);
  assert.equal(streams().length, 1);
});

test('the last channel gone: the stream is closed, state idle', async () => {
  const { client } = grip();
  const off = client.subscribe('a', () => {});
  await advance(50);
  lastStream().ready();
  off();
  await advance(50);
  assert.equal(lastStream().closed, true);
  assert.equal(client.state, 'idle');
});

test('a denied channel: one error naming it, never a loop; the other channels keep working', async () => {
  const { client, errors } = grip();
  const got = [];
  client.subscribe('public', (data) => got.push(data));
  client.subscribe('private', () => {});
  await advance(50);
  const es = lastStream();
  es.ready(['public'], ['private']);
  assert.equal(client.state, 'connected');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].channel, 'private');
  assert.match(errors[0].message, /"private" is denied/);
  es.hint('public', 1);
  // The browser reconnects by itself; the server denies again; no new error.
  es.fail(0);
  es.ready(['public'], ['private']);
  assert.equal(errors.length, 1);
  // A later reopen no longer asks for it.
  client.subscribe('other', () => {});
  await advance(50);
  assert.deepEqual(lastStream().channels, ['public', 'other']);
  assert.deepEqual(got, [1]);
});

test('every channel denied: the stream is closed for good, state failed, no reconnect', async () => {
  const { client, errors } = grip();
  client.subscribe('private', () => {});
  await advance(50);
  const es = lastStream();
  es.ready([], ['private']);
  assert.equal(es.closed, true);
  assert.equal(client.state, 'failed');
  assert.equal(errors.length, 1);
  await advance(120000, 1000);
  assert.equal(streams().length, 1);
  assert.equal(requests.length, 0, 'no long-polling either');
});

test('a network error: EventSource retries by itself; back on ready, and the pollers refresh at once', async () => {
  const { client, log } = grip({ pollInterval: 60000, pollConnectedInterval: 600000 });
  const polls = [];
  client.poll(() => polls.push(Date.now()));
  client.subscribe('a', () => {});
  await advance(50);
  const es = lastStream();
  es.ready();
  es.fail(0);
  assert.equal(client.state, 'disconnected');
  await advance(30000, 1000);
  assert.equal(streams().length, 1, 'no reopen of ours, no fallback while it retries');
  assert.equal(requests.length, 0);
  es.ready();
  assert.equal(client.state, 'connected');
  assert.deepEqual(polls, [Date.now()], 'refreshed at once on the return');
  assert.deepEqual(log, ['connecting', 'connected', 'disconnected', 'connected']);
});

test('closed for good (a non-200): our reconnect, backoff 1 s doubling to 64 s, reset once ready', async () => {
  mock.method(Math, 'random', () => 0);
  const { client } = grip();
  client.subscribe('a', () => {});
  await advance(50);
  const delays = [];
  for (let i = 0; i < 9; i++) {
    const before = lastStream();
    before.fail(2);
    assert.equal(client.state, 'disconnected');
    const start = Date.now();
    while (lastStream() === before) await advance(100, 100);
    delays.push(Date.now() - start);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000]);
  lastStream().ready();
  lastStream().fail(2);
  const start = Date.now();
  const before = lastStream();
  while (lastStream() === before) await advance(100, 100);
  assert.equal(Date.now() - start, 1000, 'a stream that was ready starts the schedule again');
});

test('the backoff jitter adds up to 1 s', () => {
  const random = mock.method(Math, 'random', () => 0);
  assert.equal(backoff(0), 1000);
  assert.equal(backoff(6), 64000);
  assert.equal(backoff(20), 64000);
  random.mock.mockImplementation(() => 0.999999);
  assert.ok(backoff(0) < 2000 && backoff(0) > 1999);
  assert.ok(backoff(20) < 65000);
  random.mock.restore();
  for (let i = 0; i < 200; i++) {
    const d = backoff(i % 8);
    const base = Math.min(1000 * 2 ** (i % 8), 64000);
    assert.ok(d >= base && d < base + 1000, `${d}`);
  }
});

test('fallback: a stream that says nothing within connectTimeout (a buffering proxy) gives way to long-polling', async () => {
  const { client } = grip({ connectTimeout: 3000 });
  client.subscribe('a', () => {});
  client.subscribe('b', () => {});
  await advance(50);
  const es = lastStream();
  es.open(); // headers through, events buffered
  await advance(2900);
  assert.equal(requests.length, 0);
  await advance(200);
  assert.equal(es.closed, true);
  assert.equal(requests.length, 1);
  const [poll] = requests;
  assert.equal(poll.url, '/_fanout/events?channel=a&channel=b&mode=poll');
  assert.equal(poll.options.credentials, 'include');
  assert.equal(client.transport, 'long-polling');
  await advance(2000);
  assert.equal(client.state, 'connected', 'held for 2 s');
  await advance(120000, 1000);
  assert.equal(streams().length, 1, 'long-polling stays');
});

test('a stream that fails with network errors (server down) is not given up for long-polling', async () => {
  const { client } = grip({ connectTimeout: 3000 });
  client.subscribe('a', () => {});
  await advance(50);
  const es = lastStream();
  es.fail(0);
  await advance(30000, 1000);
  assert.equal(requests.length, 0);
  es.ready();
  assert.equal(client.state, 'connected');
});

test('no EventSource at all: long-polling at once', async () => {
  const { client } = grip({}, { es: null });
  client.subscribe('a', () => {});
  await advance(50);
  assert.equal(requests.length, 1);
  assert.equal(client.transport, 'long-polling');
});

test("transportMode 'stream': never long-polls; a silent stream is reopened; no EventSource is a failure", async () => {
  const { client } = grip({ transportMode: 'stream', connectTimeout: 3000 });
  mock.method(Math, 'random', () => 0);
  client.subscribe('a', () => {});
  await advance(50);
  await advance(3000);
  assert.equal(lastStream().closed, true);
  await advance(1000);
  assert.equal(streams().length, 2, 'reopened after the backoff');
  assert.equal(requests.length, 0);
  const bare = grip({ transportMode: 'stream' }, { es: null });
  bare.client.subscribe('a', () => {});
  await advance(50);
  assert.equal(bare.client.state, 'failed');
  assert.match(bare.errors[0].message, /no EventSource/);
  assert.equal(requests.length, 0);
});

test("transportMode 'poll': long-polling only", async () => {
  const { client } = grip({ transportMode: 'poll' });
  client.subscribe('a', () => {});
  await advance(50);
  assert.equal(streams().length, 0);
  assert.equal(requests.length, 1);
});

test('mid-session hang: with keepAlive, a stream silent for 1.5 x keepAlive switches to long-polling, and pollers refresh', async () => {
  const { client, log } = grip({ keepAlive: 20000, pollInterval: 600000, pollConnectedInterval: 600000 });
  const polls = [];
  client.poll(() => polls.push(Date.now()));
  client.subscribe('a', () => {});
  await advance(50);
  const es = lastStream();
  es.ready();
  // Keep-alive events (and hints) keep it alive.
  for (let i = 0; i < 5; i++) {
    await advance(20000, 1000);
    es.emit('keep-alive', {});
  }
  await advance(29000, 1000);
  es.hint('a', 1);
  await advance(29000, 1000);
  assert.equal(requests.length, 0);
  assert.equal(es.closed, false);
  // Then silence.
  await advance(1000);
  assert.equal(es.closed, true);
  assert.equal(requests.length, 1);
  await advance(2000);
  assert.equal(client.state, 'connected');
  assert.equal(client.transport, 'long-polling');
  assert.equal(polls.length, 1, 'the return after the hang refreshed');
  assert.deepEqual(log.slice(-3), ['disconnected', 'connecting', 'connected']);
});

test('without keepAlive an idle stream is never taken for hung', async () => {
  const { client } = grip();
  client.subscribe('a', () => {});
  await advance(50);
  lastStream().ready();
  await advance(600000, 5000);
  assert.equal(lastStream().closed, false);
  assert.equal(requests.length, 0);
});

test('long-polls overlap: the next is sent before the timeout, the old one dropped once the new one is held 2 s', async () => {
  const { client, log } = grip({ transportMode: 'poll', longPollTimeout: 20000 });
  client.subscribe('a', () => {});
  await advance(50);
  const [first] = requests;
  await advance(2000);
  assert.equal(client.state, 'connected');
  await advance(13000);
  assert.equal(requests.length, 2, 'renewed at 0.75 x longPollTimeout');
  const second = requests[1];
  assert.equal(second.at - first.at, 15000);
  assert.equal(first.aborted, false, 'both held for a while');
  await advance(2000);
  assert.equal(first.aborted, true, 'the old one goes once the new one was held 2 s');
  assert.equal(second.aborted, false);
  assert.deepEqual(log, ['connecting', 'connected'], 'connected throughout');
  assert.equal(pending().length, 1);
});

test('a poll answered with hints: delivered, the next poll at once, every channel refreshed 2 s after it', async () => {
  const { client } = grip({ transportMode: 'poll' });
  const got = [];
  client.subscribe('a', (data, channel) => got.push([channel, data]));
  client.subscribe('b', (data, channel) => got.push([channel, data]));
  await advance(50);
  await advance(3000);
  const [first] = requests;
  await answer(first, { hints: [{ channel: 'a', data: { n: 1 } }] });
  assert.deepEqual(got, [['a', { n: 1 }]]);
  assert.equal(requests.length, 2, 'the next poll at once');
  assert.equal(client.state, 'connected');
  await advance(1750);
  assert.equal(got.length, 1);
  await advance(250);
  assert.deepEqual(got.slice(1), [['a', null], ['b', null]], 'the resync, 2 s after the next poll was sent');
});

test('a poll answered by the server timeout before we renewed also resyncs; an old poll answered with hints too', async () => {
  const { client } = grip({ transportMode: 'poll' });
  const got = [];
  client.subscribe('a', (data) => got.push(data));
  await advance(50);
  await answer(requests[0], { channels: ['a'], denied: [], hints: [], retry: null });
  assert.equal(requests.length, 2);
  await advance(2000);
  assert.deepEqual(got, [null]);
  // A set change: a new poll; the old one answers with a hint while both are held.
  client.subscribe('b', () => {});
  await advance(50);
  assert.equal(requests.length, 3);
  await answer(requests[1], { hints: [{ channel: 'a', data: 5 }] });
  assert.equal(requests.length, 3, 'an old poll answered sends no new one');
  assert.deepEqual(got, [null, 5]);
  await advance(2000);
  assert.deepEqual(got, [null, 5, null]);
});

test('long-poll denial: one error, the next poll without it; all denied: failed, no more polls', async () => {
  const { client, errors } = grip({ transportMode: 'poll' });
  client.subscribe('a', () => {});
  client.subscribe('b', () => {});
  await advance(50);
  await answer(requests[0], { channels: ['a'], denied: ['b'], hints: [], retry: null });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].channel, 'b');
  assert.deepEqual(requests[1].channels, ['a']);
  const solo = grip({ transportMode: 'poll' });
  solo.client.subscribe('c', () => {});
  await advance(50);
  const mine = requests.at(-1);
  await answer(mine, { channels: [], denied: ['c'], hints: [], retry: null });
  assert.equal(solo.client.state, 'failed');
  await advance(120000, 1000);
  assert.equal(requests.filter((r) => r.channels.includes('c')).length, 1);
});

test('long-poll: unavailable waits the retry the server asked for; failures back off; the return refreshes pollers', async () => {
  mock.method(Math, 'random', () => 0);
  const { client } = grip({ transportMode: 'poll', pollInterval: 600000, pollConnectedInterval: 600000 });
  const polls = [];
  client.poll(() => polls.push(Date.now()));
  client.subscribe('a', () => {});
  await advance(50);
  await advance(2000);
  assert.equal(client.state, 'connected');
  await answer(requests[0], { channels: ['a'], denied: [], hints: [], retry: 5000 });
  assert.equal(client.state, 'disconnected');
  assert.equal(requests.length, 1);
  await advance(5000);
  assert.equal(requests.length, 2);
  // A network failure, then a 502: backoff 1 s, 2 s.
  requests[1].done = true;
  requests[1].fail();
  await flush();
  await advance(1000);
  assert.equal(requests.length, 3);
  await answer(requests[2], 'Bad gateway', 502);
  await advance(1750);
  assert.equal(requests.length, 3);
  await advance(250);
  assert.equal(requests.length, 4);
  assert.equal(polls.length, 0);
  await advance(2000);
  assert.equal(client.state, 'connected');
  assert.equal(polls.length, 1, 'refreshed at once on the return');
});

test('a poll never answered is given up (bounded) and retried', async () => {
  const { client } = grip({ transportMode: 'poll', longPollTimeout: 20000 });
  client.subscribe('a', () => {});
  await advance(50);
  // Renewals keep one poll held; each is aborted at the latest at timeout + 10 s.
  await advance(40000, 500);
  assert.ok(requests.every((r) => r.aborted || Date.now() - r.at < 30000));
  assert.equal(pending().length, 1);
});

test('maxChannels: the channels beyond it are not asked for, each with an error', async () => {
  const { client, errors } = grip({ maxChannels: 2 });
  for (const c of ['a', 'b', 'c']) client.subscribe(c, () => {});
  await advance(50);
  assert.deepEqual(lastStream().channels, ['a', 'b']);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].channel, 'c');
  assert.match(errors[0].message, /maxChannels/);
});
