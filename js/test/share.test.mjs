// One stream per browser: several tabs (jsdom windows running the built GRIP
// module) of one origin, with Node's own BroadcastChannel between them and a
// Web Locks manager shared by the "browser". Real timers, bounded waits.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { browserPage, waitFor } from './helpers.mjs';

/** Web Locks as a browser has them: exclusive, queued, released when the holding tab goes. */
function lockManager() {
  const held = new Map(); // name -> tab
  const queue = []; // [name, tab, grant]
  const grant = (name) => {
    const i = queue.findIndex(([n]) => n === name);
    if (i < 0 || held.has(name)) return;
    const [, tab, run] = queue.splice(i, 1)[0];
    held.set(name, tab);
    // Unless the tab closed meanwhile.
    queueMicrotask(() => held.get(name) === tab && run());
  };
  return {
    held,
    forTab: (tab) => ({
      request(name, callback) {
        return new Promise((resolve, reject) => {
          queue.push([name, tab, () => Promise.resolve(callback()).then(resolve, reject)]);
          grant(name);
        });
      },
    }),
    close(tab) {
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i][1] === tab) queue.splice(i, 1);
      for (const [name, holder] of [...held]) {
        if (holder === tab) {
          held.delete(name);
          grant(name);
        }
      }
    },
  };
}

/** A scripted EventSource per tab, recording which tab opened it. */
function eventSources(all, tab) {
  return class FakeES {
    constructor(url, options) {
      Object.assign(this, { url, options, tab, readyState: 0, listeners: {}, closed: false });
      all.push(this);
    }
    addEventListener(type, fn) {
      (this.listeners[type] ||= []).push(fn);
    }
    get channels() {
      return new URL(this.url, 'http://page.test').searchParams.getAll('channel').sort();
    }
    emit(type, data) {
      this.readyState = 1;
      for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data) });
    }
    ready(denied = []) {
      this.emit('ready', { channels: this.channels.filter((c) => !denied.includes(c)), denied });
    }
    close() {
      this.closed = true;
    }
  };
}

// Values made in a jsdom window have that window's prototypes.
const plain = (value) => JSON.parse(JSON.stringify(value));

let browser;
afterEach(() => browser?.closeAll());

/** A browser whose tabs share `locks` (or not) and BroadcastChannel (or not). */
function newBrowser({ locks = true, broadcast = true, config = {} } = {}) {
  const manager = lockManager();
  const streams = [];
  const tabs = [];
  const open = async (name) => {
    const channels = [];
    const page = await browserPage({
      backend: 'grip',
      config: { backend: 'grip', streamUrl: '/_fanout/events', throttle: 0, ...config },
      setup(w) {
        w.EventSource = eventSources(streams, name);
        if (broadcast) {
          // Node's BroadcastChannel, closed with the tab.
          w.BroadcastChannel = class extends BroadcastChannel {
            constructor(key) {
              super(key);
              channels.push(this);
            }
          };
        }
        if (locks) Object.defineProperty(w.navigator, 'locks', { value: manager.forTab(name) });
      },
    });
    const tab = {
      name,
      page,
      Fanout: page.Fanout,
      got: [],
      subscribe(channel) {
        return page.Fanout.subscribe(channel, (data, c) => tab.got.push([c, data]));
      },
      close() {
        page.window.dispatchEvent(new page.window.Event('pagehide'));
        // A closed tab runs no more code: its timers stop, its channels hear
        // nothing, its locks are released and its connections end.
        page.close();
        for (const c of channels) {
          c.onmessage = null;
          c.close();
        }
        manager.close(name);
        streams.filter((s) => s.tab === name).forEach((s) => s.close());
        tabs.splice(tabs.indexOf(tab), 1);
      },
    };
    tabs.push(tab);
    return tab;
  };
  browser = {
    manager,
    streams,
    open,
    tabs,
    live: () => streams.filter((s) => !s.closed),
    closeAll: () => [...tabs].forEach((t) => t.close()),
  };
  return browser;
}

test('three tabs, one stream carrying the union; hints reach the tabs that subscribed; state in every tab', async () => {
  const b = newBrowser();
  const A = await b.open('A');
  A.subscribe('a');
  const B = await b.open('B');
  B.subscribe('b');
  const C = await b.open('C');
  C.subscribe('a');
  C.subscribe('c');
  await waitFor(() => b.live().length === 1 && b.live()[0].channels.join() === 'a,b,c', { what: 'one stream with the union' });
  const [stream] = b.live();
  assert.equal(stream.tab, 'A', 'the first tab to subscribe leads');
  assert.equal(stream.options.withCredentials, true);
  stream.ready();
  await waitFor(() => [A, B, C].every((t) => t.Fanout.state === 'connected'), { what: 'connected everywhere' });
  assert.ok([A, B, C].every((t) => t.Fanout.transport === 'eventsource'));
  const domHints = [];
  C.page.document.body.addEventListener('fanout:a', (e) => domHints.push(e.detail));
  stream.emit('message', { channel: 'a', data: { n: 1 } });
  await waitFor(() => C.got.length === 1, { what: 'the hint in a follower' });
  assert.deepEqual(plain(A.got), [['a', { n: 1 }]]);
  assert.deepEqual(plain(C.got), [['a', { n: 1 }]]);
  assert.deepEqual(B.got, []);
  assert.deepEqual(plain(domHints), [{ channel: 'a', data: { n: 1 } }], 'DOM events fire in the follower too');
  assert.equal(b.streams.length, 1, 'no tab ever opened a second stream');
});

test('the leader closes: another tab takes over within 2 s, with the union, and every tab refetches', async () => {
  const b = newBrowser();
  const A = await b.open('A');
  A.subscribe('a');
  const B = await b.open('B');
  B.subscribe('b');
  const C = await b.open('C');
  C.subscribe('c');
  const pollsB = [];
  B.Fanout.poll(() => pollsB.push(Date.now()), { interval: 3600000, connectedInterval: 3600000 });
  await waitFor(() => b.live()[0]?.channels.join() === 'a,b,c', { what: 'the first stream' });
  b.live()[0].ready();
  await waitFor(() => B.Fanout.state === 'connected' && C.Fanout.state === 'connected', { what: 'connected' });
  const closedAt = Date.now();
  A.close();
  await waitFor(() => b.live().length === 1 && b.live()[0].tab !== 'A' && b.live()[0].channels.join() === 'b,c', {
    what: 'a new leader with the remaining union',
  });
  const took = Date.now() - closedAt;
  console.log(`MEASURED leader takeover (new stream opened): ${took} ms`);
  assert.ok(took < 2000, `${took} ms`);
  b.live()[0].ready();
  await waitFor(() => B.got.length === 1 && C.got.length === 1, { what: 'the refetch in every tab' });
  assert.deepEqual(B.got, [['b', null]]);
  assert.deepEqual(C.got, [['c', null]]);
  await waitFor(() => pollsB.length === 1, { what: "the follower's poller refresh" });
  assert.equal(B.Fanout.state, 'connected');
  assert.equal(C.Fanout.state, 'connected');
});

test("a follower's channels leave the union when it unsubscribes or closes", async () => {
  const b = newBrowser();
  const A = await b.open('A');
  A.subscribe('a');
  const B = await b.open('B');
  const offB = B.subscribe('b');
  const C = await b.open('C');
  C.subscribe('c');
  await waitFor(() => b.live()[0]?.channels.join() === 'a,b,c', { what: 'the union' });
  b.live()[0].ready();
  offB();
  await waitFor(() => b.live().at(-1).channels.join() === 'a,c', { what: 'b gone' });
  b.live().at(-1).ready();
  await waitFor(() => b.live().length === 1, { what: 'the old stream closed' });
  C.close();
  await waitFor(() => b.live().at(-1).channels.join() === 'a', { what: 'c gone with its tab' });
});

test('a denied channel is reported in the tabs that hold it, once', async () => {
  const b = newBrowser();
  const A = await b.open('A');
  A.subscribe('public');
  const B = await b.open('B');
  B.subscribe('private');
  B.subscribe('public');
  const errors = { A: [], B: [] };
  A.Fanout.on('error', (e) => errors.A.push(e.channel));
  B.Fanout.on('error', (e) => errors.B.push(e.channel));
  await waitFor(() => b.live()[0]?.channels.join() === 'private,public', { what: 'the union' });
  b.live()[0].ready(['private']);
  await waitFor(() => errors.B.length === 1, { what: "the follower's error" });
  b.live()[0].ready(['private']);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(errors, { A: [], B: ['private'] });
  assert.equal(B.Fanout.state, 'connected');
});

test('without Web Locks, or without BroadcastChannel, or with share off: a stream per tab', async () => {
  for (const options of [{ locks: false }, { broadcast: false }, { config: { share: false } }]) {
    const b = newBrowser(options);
    const A = await b.open('A');
    A.subscribe('a');
    const B = await b.open('B');
    B.subscribe('b');
    await waitFor(() => b.live().length === 2, { what: `two streams with ${JSON.stringify(options)}` });
    assert.deepEqual(b.live().map((s) => [s.tab, s.channels.join()]), [['A', 'a'], ['B', 'b']]);
    b.closeAll();
  }
});
