// Live fragments with no page script: the built GRIP module in a jsdom page
// dispatches `fanout:<channel>` and `fanout:hint` on <body> after the throttle,
// subscribes for `data-fanout-subscribe` elements (also ones added later, and
// unsubscribes when they go), and `data-fanout-poll` drives the same events
// from the polling fallback. A scripted EventSource stands in for the stream.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { browserPage } from './helpers.mjs';

let page;
let streams;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  streams = [];
});
afterEach(() => {
  page?.close();
  page = undefined;
  mock.timers.reset();
});

const plain = (value) => JSON.parse(JSON.stringify(value));
// MutationObserver callbacks are microtasks; setImmediate is not mocked.
const settle = () => new Promise((r) => setImmediate(r));
async function advance(ms) {
  for (; ms > 0; ms -= 250) {
    mock.timers.tick(Math.min(250, ms));
    await settle();
  }
}

async function open(body = '', config = {}, { mocked = true } = {}) {
  page = await browserPage({
    backend: 'grip',
    body,
    config: { backend: 'grip', streamUrl: '/_fanout/events', throttle: 500, pollInterval: 5000, ...config },
    timers: mocked ? { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout } : null,
    setup(w) {
      // Long-polls (after the connect timeout) are held forever here.
      w.fetch = () => new Promise(() => {});
      w.EventSource = class {
        constructor(url) {
          this.url = url;
          this.listeners = {};
          this.closed = false;
          streams.push(this);
        }
        addEventListener(type, fn) {
          (this.listeners[type] ||= []).push(fn);
        }
        emit(type, data) {
          for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data) });
        }
        close() {
          this.closed = true;
        }
        get channels() {
          return new URL(this.url, 'http://x').searchParams.getAll('channel');
        }
      };
    },
  });
  await settle();
  return page;
}
const live = () => streams.filter((s) => !s.closed).at(-1);
const events = (type) => {
  const seen = [];
  page.document.body.addEventListener(type, (e) => seen.push([e.type, plain(e.detail)]));
  return seen;
};

test('every hint is a fanout:<channel> and a fanout:hint event on body, after the throttle', async () => {
  await open();
  const specific = events('fanout:comments-7');
  const generic = events('fanout:hint');
  page.Fanout.subscribe('comments-7', () => {});
  page.Fanout.subscribe('comments-7', () => {});
  page.Fanout.subscribe('other', () => {});
  await advance(50);
  live().emit('ready', { channels: ['comments-7', 'other'], denied: [] });
  for (let n = 1; n <= 10; n++) live().emit('message', { channel: 'comments-7', data: { n } });
  live().emit('message', { channel: 'other', data: null });
  assert.deepEqual(specific, [['fanout:comments-7', { channel: 'comments-7', data: { n: 1 } }]], 'one event per channel, not per callback');
  await advance(500);
  assert.deepEqual(specific.at(-1), ['fanout:comments-7', { channel: 'comments-7', data: { n: 10 } }], 'the trailing event has the last data');
  assert.equal(specific.length, 2);
  assert.deepEqual(
    generic.map(([, d]) => [d.channel, d.data]),
    [['comments-7', { n: 1 }], ['other', null], ['comments-7', { n: 10 }]],
  );
});

test('data-fanout-subscribe subscribes with no script: markup, elements added later, and removed ones', async () => {
  await open('<div id="a" data-fanout-subscribe="comments-1 scores"></div><p data-fanout-subscribe="scores"></p>');
  await advance(50);
  assert.equal(streams.length, 1);
  assert.deepEqual(live().channels, ['comments-1', 'scores'], 'two elements on one channel: one subscription');
  live().emit('ready', { channels: live().channels, denied: [] });
  const seen = events('fanout:comments-9');
  // An element htmx swaps in later.
  const el = page.document.createElement('section');
  el.setAttribute('data-fanout-subscribe', 'comments-9');
  page.document.body.appendChild(el);
  await settle();
  await advance(50);
  assert.deepEqual(live().channels, ['comments-1', 'scores', 'comments-9']);
  live().emit('ready', { channels: live().channels, denied: [] });
  live().emit('message', { channel: 'comments-9', data: 1 });
  assert.equal(seen.length, 1);
  // Removed (with its parent): unsubscribed.
  page.document.getElementById('a').remove();
  el.remove();
  await settle();
  await advance(50);
  assert.deepEqual(live().channels, ['scores']);
  // The attribute changed in place.
  page.document.querySelector('p').setAttribute('data-fanout-subscribe', 'news');
  await settle();
  await advance(50);
  assert.deepEqual(live().channels, ['news']);
});

test('a bad name in data-fanout-subscribe is reported (as an uncaught error) without stopping the others', async () => {
  // The page's own timers here: the error is rethrown on a task of its own.
  mock.timers.reset();
  const errors = [];
  await open('', {}, { mocked: false });
  page.window.addEventListener('error', (e) => {
    errors.push(e.error?.message || e.message);
    e.preventDefault();
  });
  page.document.body.innerHTML = '<div data-fanout-subscribe="ok-1 not/valid ok-2"></div>';
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(live().channels, ['ok-1', 'ok-2']);
  assert.ok(errors.some((m) => /bad channel name "not\/valid"/.test(m)), errors.join());
});

test('data-fanout-poll fires the channel events (null data) at the polling cadence', async () => {
  await open('<div data-fanout-subscribe="comments-3" data-fanout-poll></div>');
  const seen = events('fanout:comments-3');
  await advance(5000);
  assert.deepEqual(seen, [['fanout:comments-3', { channel: 'comments-3', data: null }]], 'every pollInterval while not connected');
  await advance(5000);
  assert.equal(seen.length, 2);
  page.document.querySelector('[data-fanout-poll]').removeAttribute('data-fanout-poll');
  await settle();
  await advance(20000);
  assert.equal(seen.length, 2, 'the poller stops with the attribute');
});

test('a page with no subscriptions opens no stream', async () => {
  await open('<div hx-get="/x"></div>');
  page.Fanout.poll(() => {});
  await advance(10000);
  assert.equal(streams.length, 0);
  assert.equal(page.Fanout.state, 'idle');
});
