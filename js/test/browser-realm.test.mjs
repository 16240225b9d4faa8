// The built browser file in a jsdom page, with the real Faye client (Node
// build, standing in for the browser bundle jsdom cannot run over the network)
// against our local realm: the lazy load completes and the eager path works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { browserPage, publish, startRealm, trackedFaye, waitFor } from './helpers.mjs';

let realm;
before(async () => {
  realm = await startRealm();
});
after(() => realm?.stop());

async function subscribed(channels) {
  await waitFor(async () => {
    const s = (await (await fetch(`${realm.url}/stats`)).json()).subscribers;
    return channels.every((c) => s[`/${c}`] >= 1);
  }, { what: 'subscriptions on the realm' });
}

function pageConfig(extra = {}) {
  return {
    bayeuxUrl: `${realm.url}/bayeux`,
    fayeUrl: `${realm.url}/bayeux/static/faye-browser-min.js`,
    fayeIntegrity: null,
    transportMode: 'fallback',
    throttle: 500,
    pollInterval: 5000,
    pollConnectedInterval: 300000,
    channelPrefix: '',
    nonce: null,
    lazy: true,
    ...extra,
  };
}

test('ten concurrent subscribes share one load, and every one of them gets messages', async (t) => {
  const page = await browserPage({ config: pageConfig() });
  const faye = trackedFaye();
  t.after(async () => {
    await faye.close();
    page.close();
  });
  const F = page.Fanout;
  const channels = ['lazy-a', 'lazy-b', 'lazy-c'];
  const got = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < 10; i++) F.subscribe(channels[i % 3], (data, name) => got[i].push([name, data]));
  assert.equal(page.fayeScripts().length, 1);
  assert.equal(F.state, 'loading');
  // The browser finished fetching the script, which defined window.Faye.
  page.window.Faye = faye.Faye;
  page.fayeScripts()[0].dispatchEvent(new page.window.Event('load'));
  assert.equal(F.state, 'connecting');
  assert.equal(faye.clients.length, 1, 'one shared client');
  await waitFor(() => F.state === 'connected', { what: 'connection' });
  await subscribed(channels);
  for (const c of channels) await publish(realm.url, c, { on: c });
  await waitFor(() => got.every((g) => g.length === 1), { what: 'all ten callbacks' });
  got.forEach((g, i) => assert.deepEqual(g, [[channels[i % 3], { on: channels[i % 3] }]]));
  assert.equal(page.fayeScripts().length, 1);
});

test('lazy=False: a Faye already on the page is used and no script is added', async (t) => {
  const page = await browserPage({ config: pageConfig({ lazy: false }) });
  const faye = trackedFaye();
  t.after(async () => {
    await faye.close();
    page.close();
  });
  page.window.Faye = faye.Faye; // rendered eagerly, before the module ran
  const got = [];
  page.Fanout.subscribe('eager', (data) => got.push(data));
  assert.equal(page.fayeScripts().length, 0);
  await waitFor(() => page.Fanout.state === 'connected', { what: 'connection' });
  await subscribed(['eager']);
  await publish(realm.url, 'eager', 42);
  await waitFor(() => got.length === 1, { what: 'the message' });
  assert.deepEqual(got, [42]);
});
