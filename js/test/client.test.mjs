// A client on its own, with a recording transport behind the transport seam:
// the registry, refusals, resync, waiting for settings, state events.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { internals } from './helpers.mjs';

const { createClient, transports } = await internals();

let hosts;
let updates;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  hosts = [];
  updates = [];
  transports.fake = (host) => {
    hosts.push(host);
    return { update: () => updates.push(host.list()) };
  };
});
afterEach(() => {
  delete transports.fake;
  mock.timers.reset();
});

const fake = (extra = {}) => createClient({ backend: 'fake', throttle: 500, ...extra });

test('the transport is made on the first subscribe and told of every change of the channel set', () => {
  const client = fake();
  assert.equal(hosts.length, 0, 'nothing before a subscription');
  const offA1 = client.subscribe('a', () => {});
  const offA2 = client.subscribe('a', () => {});
  const offB = client.subscribe('b', () => {});
  assert.equal(hosts.length, 1, 'one transport per client');
  assert.deepEqual(updates, [['a'], ['a'], ['a', 'b']]);
  offA1();
  assert.equal(updates.length, 3, 'a still has a subscriber');
  offA2();
  offA2();
  assert.deepEqual(updates.at(-1), ['b']);
  offB();
  assert.deepEqual(updates.at(-1), []);
  assert.equal(hosts[0].cfg.backend, 'fake');
});

test('a hint reaches every callback of its channel, each through its own throttle, with the logical name', () => {
  const client = fake();
  const got = [];
  client.subscribe('a', (data, channel) => got.push(['1', data, channel]));
  client.subscribe('a', (data) => got.push(['2', data]), { throttle: 0 });
  client.subscribe('b', (data) => got.push(['b', data]));
  const host = hosts[0];
  host.deliver('a', 1);
  host.deliver('a', 2);
  host.deliver('nobody', 3);
  assert.deepEqual(got, [['1', 1, 'a'], ['2', 1]]);
  mock.timers.tick(1);
  assert.deepEqual(got.slice(2), [['2', 2]]);
  mock.timers.tick(499);
  assert.deepEqual(got.slice(3), [['1', 2, 'a']], 'the trailing call carries the latest data');
});

test('resync calls every channel once with null, through the throttle', () => {
  const client = fake();
  const got = [];
  client.subscribe('a', (data, channel) => got.push([channel, data]));
  client.subscribe('b', (data, channel) => got.push([channel, data]));
  hosts[0].deliver('a', { n: 1 });
  hosts[0].resync();
  assert.deepEqual(got, [['a', { n: 1 }], ['b', null]]);
  mock.timers.tick(500);
  assert.deepEqual(got.slice(2), [['a', null]]);
});

test('a refused channel: one error event naming it, no longer asked for, asked again when subscribed anew', () => {
  const client = fake();
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const offA = client.subscribe('a', () => {});
  client.subscribe('b', () => {});
  const host = hosts[0];
  host.refuse('a', 'is denied');
  host.refuse('a', 'is denied');
  host.refuse('elsewhere', 'is denied');
  assert.equal(errors.length, 1, 'once, and only for a channel of this client');
  assert.equal(errors[0].channel, 'a');
  assert.match(errors[0].message, /channel "a" is denied/);
  assert.deepEqual(host.list(), ['b'], 'the other channels keep going');
  offA();
  client.subscribe('a', () => {});
  assert.deepEqual(host.list(), ['b', 'a']);
});

test('state changes: state, connected (with the transport) and disconnected events; no event without a change', () => {
  const client = fake();
  const seen = [];
  client.on('state', (now, before) => seen.push(`${before}->${now}`));
  client.on('connected', (name) => seen.push(`connected(${name})`));
  client.on('disconnected', () => seen.push('disconnected'));
  client.subscribe('a', () => {});
  const host = hosts[0];
  host.setState('connecting', 'eventsource');
  host.setState('connecting');
  host.setState('connected');
  host.setState('disconnected');
  host.setState('connected', 'long-polling');
  assert.deepEqual(seen, [
    'idle->connecting',
    'connecting->connected',
    'connected(eventsource)',
    'connected->disconnected',
    'disconnected',
    'disconnected->connected',
    'connected(long-polling)',
  ]);
  assert.equal(client.state, 'connected');
  assert.equal(client.transport, 'long-polling');
});

test('without settings (no config element, no configure) subscriptions wait; configure() starts them', () => {
  const client = createClient();
  const got = [];
  client.subscribe('a', (data) => got.push(data));
  assert.equal(hosts.length, 0);
  assert.equal(client.state, 'idle');
  client.configure({ backend: 'fake' });
  assert.equal(hosts.length, 1);
  assert.deepEqual(updates, [['a']]);
  hosts[0].deliver('a', 7);
  assert.deepEqual(got, [7]);
});

test('a backend this build does not carry: state failed and an error event, no throw', () => {
  const client = createClient({ backend: 'nonesuch' });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  client.subscribe('a', () => {});
  assert.equal(client.state, 'failed');
  assert.match(errors[0].message, /no nonesuch transport/);
});

test('settings: durations in ms, configure() overrides key by key, undefined is no override, later calls reach the transport', () => {
  const client = fake({ pollInterval: 1000 });
  client.configure({ pollInterval: undefined, connectTimeout: 1234 });
  client.subscribe('a', () => {});
  const { cfg } = hosts[0];
  assert.equal(cfg.pollInterval, 1000);
  assert.equal(cfg.pollConnectedInterval, 300000);
  assert.equal(cfg.connectTimeout, 1234);
  assert.equal(cfg.throttle, 500);
  client.configure({ connectTimeout: 99 });
  assert.equal(hosts[0].cfg.connectTimeout, 99);
  // poll() uses them: every pollInterval ms while not connected.
  const polls = [];
  client.poll(() => polls.push(Date.now()));
  mock.timers.tick(1000);
  mock.timers.tick(1000);
  assert.deepEqual(polls, [1000, 2000]);
});

test('debug logs state and transport changes', (t) => {
  const info = mock.method(console, 'info', () => {});
  t.after(() => info.mock.restore());
  const client = fake();
  client.subscribe('a', () => {});
  hosts[0].setState('connecting', 'eventsource');
  assert.equal(info.mock.callCount(), 0);
  client.debug = true;
  assert.equal(client.debug, true);
  hosts[0].setState('connected');
  assert.deepEqual(info.mock.calls[0].arguments, ['[fanout]', 'state', 'connecting', '->', 'connected', 'eventsource']);
});

test('two clients are independent', () => {
  const one = fake();
  const two = fake();
  const got = [];
  one.subscribe('a', (d) => got.push(['one', d]));
  two.subscribe('a', (d) => got.push(['two', d]));
  hosts[0].deliver('a', 1);
  hosts[0].setState('connected');
  assert.deepEqual(got, [['one', 1]]);
  assert.equal(two.state, 'idle');
});
