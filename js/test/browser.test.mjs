// The built Bayeux browser file (flask-fanout-<v>.bayeux.min.js) in a jsdom
// page: config element, lazy loading of Faye, nonces, load failure, with fake
// timers.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { browserPage } from './helpers.mjs';

const CONFIG = {
  bayeuxUrl: 'http://127.0.0.1:7999/bayeux',
  fayeUrl: '/_fanout/static/faye-browser-1.4.3.min.js',
  fayeIntegrity: 'sha384-AAAAtestAAAA',
  transportMode: 'fallback',
  throttle: 500,
  pollInterval: 5000,
  pollConnectedInterval: 300000,
  channelPrefix: '',
  nonce: 'n0nce',
  lazy: true,
};

let page;
beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => {
  page?.close();
  page = undefined;
  mock.timers.reset();
});

const timers = () => ({ setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout });

function advance(ms) {
  for (; ms >= 1000; ms -= 1000) mock.timers.tick(1000);
  if (ms) mock.timers.tick(ms);
}

test('window.Fanout exposes the contract API', async () => {
  page = await browserPage({ config: CONFIG });
  const F = page.Fanout;
  for (const name of ['configure', 'subscribe', 'poll', 'on']) assert.equal(typeof F[name], 'function', name);
  assert.equal(F.state, 'idle');
  assert.equal(F.transport, null);
  assert.equal(F.debug, false);
  F.debug = true;
  assert.equal(F.debug, true);
  assert.match(F.version, /^\d+\.\d+\.\d+/);
});

test('nothing of Faye is fetched before the first subscribe', async () => {
  page = await browserPage({ config: CONFIG, timers: timers() });
  const F = page.Fanout;
  F.poll(() => {});
  F.on('state', () => {});
  F.configure({ throttle: 100 });
  advance(60000);
  assert.equal(page.fayeScripts().length, 0);
  assert.equal(F.state, 'idle');
});

test('ten concurrent subscribes add exactly one script element, with integrity, crossorigin and nonce', async () => {
  page = await browserPage({ config: CONFIG, scriptNonce: 'module-nonce' });
  const F = page.Fanout;
  for (let i = 0; i < 10; i++) F.subscribe(`chan-${i % 3}`, () => {});
  const scripts = page.fayeScripts();
  assert.equal(scripts.length, 1);
  const [s] = scripts;
  assert.equal(s.getAttribute('src'), CONFIG.fayeUrl);
  assert.equal(s.getAttribute('integrity'), CONFIG.fayeIntegrity);
  assert.equal(s.getAttribute('crossorigin'), 'anonymous');
  assert.equal(s.getAttribute('nonce'), 'n0nce', "the config's nonce wins");
  assert.equal(F.state, 'loading');
});

test("without a configured nonce, the module's own script nonce is used", async () => {
  page = await browserPage({ config: { ...CONFIG, nonce: null }, scriptNonce: 'module-nonce' });
  page.Fanout.subscribe('c', () => {});
  assert.equal(page.fayeScripts()[0].getAttribute('nonce'), 'module-nonce');
});

test('without any nonce or integrity, the script carries neither', async () => {
  page = await browserPage({ config: { ...CONFIG, nonce: null, fayeIntegrity: null } });
  page.Fanout.subscribe('c', () => {});
  const [s] = page.fayeScripts();
  assert.equal(s.hasAttribute('nonce'), false);
  assert.equal(s.hasAttribute('integrity'), false);
  assert.equal(s.getAttribute('crossorigin'), 'anonymous');
});

test('a load failure (network or SRI) is an error event, state failed, and polling stays in charge', async () => {
  page = await browserPage({ config: { ...CONFIG, pollInterval: 2000 }, timers: timers() });
  const F = page.Fanout;
  const errors = [];
  const states = [];
  F.on('error', (e) => errors.push(e));
  F.on('state', (now, before) => states.push(`${before}->${now}`));
  const polls = [];
  F.poll(() => polls.push(Date.now()));
  F.subscribe('c', () => {});
  // What a browser does when the fetch fails or the integrity check rejects the file.
  page.fayeScripts()[0].dispatchEvent(new page.window.Event('error'));
  assert.equal(F.state, 'failed');
  assert.deepEqual(states, ['idle->loading', 'loading->failed']);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0].message), /could not load Faye/);
  advance(6000);
  assert.deepEqual(polls, [2000, 4000, 6000], 'polls every pollInterval (from the config element)');
});

test('a later subscribe retries a failed load, replacing the failed element', async () => {
  page = await browserPage({ config: CONFIG, timers: timers() });
  const F = page.Fanout;
  const errors = [];
  F.on('error', (e) => errors.push(e));
  F.subscribe('c', () => {});
  const [first] = page.fayeScripts();
  first.dispatchEvent(new page.window.Event('error'));
  assert.equal(F.state, 'failed');
  // A blip while loading must not leave the page on polling until reload.
  F.subscribe('d', () => {});
  assert.equal(F.state, 'loading');
  const scripts = page.fayeScripts();
  assert.equal(scripts.length, 1, 'never two Faye script elements');
  assert.notEqual(scripts[0], first);
  assert.equal(scripts[0].getAttribute('integrity'), CONFIG.fayeIntegrity);
  // Subscribes while the retry is in flight share it.
  F.subscribe('e', () => {});
  assert.equal(page.fayeScripts().length, 1);
  scripts[0].dispatchEvent(new page.window.Event('error'));
  assert.equal(F.state, 'failed');
  assert.equal(errors.length, 2);
});

test('a script that loads but defines no Faye counts as a failure', async () => {
  page = await browserPage({ config: CONFIG });
  const F = page.Fanout;
  const errors = [];
  F.on('error', (e) => errors.push(e));
  F.subscribe('c', () => {});
  page.fayeScripts()[0].dispatchEvent(new page.window.Event('load'));
  assert.equal(F.state, 'failed');
  assert.equal(errors.length, 1);
});

test('configure() overrides the config element, key by key', async () => {
  page = await browserPage({ config: CONFIG, timers: timers() });
  const F = page.Fanout;
  F.configure({ fayeUrl: 'https://cdn.example/faye.js', nonce: undefined, pollInterval: 1000 });
  const polls = [];
  F.poll(() => polls.push(Date.now()));
  F.subscribe('c', () => {});
  const [s] = page.fayeScripts();
  assert.equal(s.getAttribute('src'), 'https://cdn.example/faye.js');
  assert.equal(s.getAttribute('integrity'), CONFIG.fayeIntegrity, 'keys not overridden come from the element');
  assert.equal(s.getAttribute('nonce'), 'n0nce', 'undefined means "no override"');
  advance(3000);
  assert.deepEqual(polls, [1000, 2000, 3000]);
});

test('the config element is read when first needed, not when the module loads', async () => {
  page = await browserPage({});
  const el = page.document.createElement('script');
  el.type = 'application/json';
  el.id = 'flask-fanout-config';
  el.textContent = JSON.stringify({ ...CONFIG, fayeUrl: '/late.js' });
  page.document.body.appendChild(el);
  page.Fanout.subscribe('c', () => {});
  assert.equal(page.fayeScripts()[0].getAttribute('src'), '/late.js');
});

test('an invalid config element is reported as an error event', async () => {
  page = await browserPage({});
  const el = page.document.createElement('script');
  el.type = 'application/json';
  el.id = 'flask-fanout-config';
  el.textContent = '{not json';
  page.document.body.appendChild(el);
  const errors = [];
  page.Fanout.on('error', (e) => errors.push(e));
  page.Fanout.subscribe('c', () => {});
  assert.ok(errors.length >= 1);
  assert.equal(errors[0].name, 'SyntaxError');
  assert.equal(page.Fanout.state, 'failed', 'no fayeUrl without config');
});

test('channel names are written without "/" and must be one segment', async () => {
  page = await browserPage({ config: CONFIG });
  const F = page.Fanout;
  for (const bad of ['/comments', 'a/b', '', 'all*', 'two words', 'a.b', 'é', 'meta', 'service']) {
    assert.throws(() => F.subscribe(bad, () => {}), { name: 'TypeError' }, JSON.stringify(bad));
  }
  assert.equal(page.fayeScripts().length, 0);
  // Every character flask_fanout._channels allows.
  F.subscribe('Az09-_!~()$@', () => {})();
});

test('on() returns its own off(); off twice is harmless', async () => {
  page = await browserPage({ config: CONFIG });
  const F = page.Fanout;
  const seen = [];
  const listener = (now) => seen.push(now);
  const off1 = F.on('state', listener);
  const off2 = F.on('state', listener);
  off1();
  off1();
  F.subscribe('c', () => {});
  assert.deepEqual(seen, ['loading']);
  off2();
});

test('poll() in the built module: paused while hidden, called at once when shown', async () => {
  page = await browserPage({ config: CONFIG, timers: timers() });
  const polls = [];
  const stop = page.Fanout.poll(() => polls.push(Date.now()), { interval: 2000 });
  advance(4000);
  page.setHidden(true);
  advance(20000);
  assert.deepEqual(polls, [2000, 4000]);
  page.setHidden(false);
  assert.deepEqual(polls, [2000, 4000, 24000]);
  advance(2000);
  assert.deepEqual(polls.at(-1), 26000);
  stop();
  advance(10000);
  assert.equal(polls.length, 4);
  assert.equal(page.fayeScripts().length, 0, 'polling alone loads no Faye');
});
