// The default client is one per page: the ES module (imported any number of
// times) and the classic script share it, and so one connection. Without a
// config element the module waits for configure() instead of failing.
// Node stands in for the page (one global object, no document).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { built, freshModule, waitFor } from './helpers.mjs';

const streams = [];
// Every subscription made here, undone at the end so no timer outlives the file.
const offs = [];
class FakeES {
  constructor(url) {
    this.url = url;
    streams.push(this);
  }
  addEventListener() {}
  close() {}
}

test('an imported module with no config element: subscriptions wait, nothing fails, configure() starts them', async () => {
  const mod = await freshModule(built('grip', 'mjs'));
  const errors = [];
  mod.on('error', (e) => errors.push(e));
  offs.push(mod.subscribe('early', () => {}));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(mod.state, 'idle');
  assert.equal(streams.length, 0);
  assert.deepEqual(errors, []);
  mod.configure({ backend: 'grip', streamUrl: '/s', EventSource: FakeES, share: false });
  await waitFor(() => streams.length === 1, { what: 'the stream' });
  assert.equal(streams[0].url, '/s?channel=early');
  assert.equal(mod.state, 'connecting', 'the live binding followed');
});

test('a second import and the classic script get the same client, and so the same connection', async () => {
  const first = await freshModule(built('grip', 'mjs'));
  const second = await freshModule(built('grip', 'mjs'));
  assert.equal(second.default, first.default);
  vm.runInThisContext(readFileSync(built('grip'), 'utf8'));
  assert.equal(globalThis.Fanout, first.default, 'window.Fanout is the imported default');
  offs.push(second.subscribe('from-module', () => {}), globalThis.Fanout.subscribe('from-script', () => {}));
  await waitFor(() => streams.at(-1).url === '/s?channel=early&channel=from-module&channel=from-script', {
    what: 'one stream with every channel',
  });
  assert.equal(new Set(streams.map((s) => s)).size, streams.length);
  assert.equal(first.debug, false);
  globalThis.Fanout.debug = true;
  assert.equal(first.debug, true);
  assert.equal(second.debug, true, 'every instance sees the shared client');
  globalThis.Fanout.debug = false;
  offs.forEach((off) => off());
  await waitFor(() => first.state === 'idle', { what: 'the stream closed' });
});
