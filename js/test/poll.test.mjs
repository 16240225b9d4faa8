// The polling safety net, with fake timers, driven through a client's state
// (a stand-in with the real emitter, changed the way the client changes it).
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { internals } from './helpers.mjs';

let dom;
let hidden;
beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  dom = new JSDOM('<!doctype html>', { pretendToBeVisual: true });
  hidden = false;
  Object.defineProperty(dom.window.document, 'hidden', { configurable: true, get: () => hidden });
  globalThis.document = dom.window.document;
});
afterEach(() => {
  mock.timers.reset();
  delete globalThis.document;
  dom.window.close();
});

function setHidden(value) {
  hidden = value;
  dom.window.document.dispatchEvent(new dom.window.Event('visibilitychange'));
}

// Node 20's mock clock runs every timer due within one tick() at the tick's
// end time, so long advances are made of 1 s steps (all intervals here are
// whole seconds).
function advance(ms) {
  for (; ms >= 1000; ms -= 1000) mock.timers.tick(1000);
  if (ms) mock.timers.tick(ms);
}

/** What startPoller needs of a client, and the client's way of changing state. */
async function setup() {
  const { startPoller, emitter } = await internals();
  const { on, emit } = emitter();
  const client = { state: 'idle', on };
  const setState = (next) => {
    const prev = client.state;
    if (next === prev) return;
    client.state = next;
    emit('state', next, prev);
    if (next === 'connected') emit('connected');
  };
  return { start: (fn, interval, connected) => startPoller(fn, interval, connected, client), setState, on };
}

function recorder() {
  const times = [];
  return { times, fn: () => times.push(Date.now()) };
}

test('polling intervals change as the state changes', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  const stop = start(fn, 5000, 300000);
  // Never connected (idle, loading, connecting): every 5 s.
  advance(15000);
  assert.deepEqual(times, [5000, 10000, 15000]);
  setState('loading');
  setState('connecting');
  advance(5000);
  assert.deepEqual(times.at(-1), 20000);
  // Connected: the next call is 300 s later, not 5 s.
  setState('connected');
  advance(299999);
  assert.equal(times.length, 4);
  advance(1);
  assert.deepEqual(times.at(-1), 320000);
  // Down: back to every 5 s.
  setState('disconnected');
  advance(10000);
  assert.deepEqual(times.slice(-2), [325000, 330000]);
  stop();
  advance(1000000);
  assert.equal(times.length, 7);
});

test('one call at once when the transport returns after an outage, none on the first connection', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  start(fn, 5000, 300000);
  setState('connecting');
  setState('connected');
  assert.deepEqual(times, [], 'the first connection is not a return');
  advance(1000);
  setState('disconnected');
  advance(2000);
  setState('connected');
  assert.deepEqual(times, [3000], 'refreshed at once on return');
  advance(299999);
  assert.equal(times.length, 1);
  advance(1);
  assert.deepEqual(times, [3000, 303000]);
});

test('a load failure keeps polling at the short interval', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  start(fn, 5000, 300000);
  setState('loading');
  setState('failed');
  advance(20000);
  assert.deepEqual(times, [5000, 10000, 15000, 20000]);
});

test('connecting after a failed load (a retried subscribe) refreshes at once, like a return', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  start(fn, 5000, 300000);
  setState('loading');
  setState('failed');
  advance(6000);
  assert.deepEqual(times, [5000]);
  setState('loading');
  setState('connecting');
  setState('connected');
  assert.deepEqual(times, [5000, 6000], 'hints sent while it was down are caught at once');
  advance(300000);
  assert.deepEqual(times, [5000, 6000, 306000]);
});

test('no polling while the page is hidden; one call at once when it is shown', async () => {
  const { start } = await setup();
  const { times, fn } = recorder();
  start(fn, 5000, 300000);
  advance(5000);
  setHidden(true);
  advance(60000);
  assert.deepEqual(times, [5000]);
  setHidden(false);
  assert.deepEqual(times, [5000, 65000]);
  advance(5000);
  assert.deepEqual(times, [5000, 65000, 70000]);
});

test('a poller started on a hidden page waits until it is shown', async () => {
  const { start } = await setup();
  const { times, fn } = recorder();
  hidden = true;
  start(fn, 5000, 300000);
  advance(60000);
  assert.deepEqual(times, []);
  setHidden(false);
  assert.deepEqual(times, [60000]);
});

test('stop is final and idempotent, also against later state and visibility changes', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  const stop = start(fn, 5000, 300000);
  stop();
  stop();
  setState('connected');
  setState('disconnected');
  setState('connected');
  setHidden(true);
  setHidden(false);
  advance(1000000);
  assert.deepEqual(times, []);
});

test('a refresh function that throws keeps being called', async () => {
  const { start } = await setup();
  let calls = 0;
  start(() => {
    calls += 1;
    throw new Error('page bug');
  }, 5000, 300000);
  for (let i = 0; i < 3; i++) assert.throws(() => advance(5000), /page bug/);
  assert.equal(calls, 3);
});

test('a flapping state never postpones the next poll', async () => {
  const { start, setState } = await setup();
  const { times, fn } = recorder();
  const stop = start(fn, 5000, 300000);
  setState('connecting');
  // A state change every second for 12 s, never reaching 'connected'.
  for (let i = 0; i < 12; i++) {
    setState(i % 2 ? 'connecting' : 'loading');
    advance(1000);
  }
  assert.deepEqual(times, [5000, 10000]);
  stop();
});

test('a state listener that throws starves neither the poller nor the events after it', async () => {
  const { start, setState, on } = await setup();
  on('state', () => {
    throw new Error('page bug');
  });
  const connected = [];
  on('connected', () => connected.push(Date.now()));
  const { times, fn } = recorder();
  start(fn, 5000, 300000);
  // None of this may throw into the transport code that changes the state.
  setState('connecting');
  setState('connected');
  setState('disconnected');
  setState('connected');
  assert.equal(connected.length, 2, "'connected' still fires after the throwing 'state' listener");
  assert.deepEqual(times, [0], 'the poller saw the return after the outage and refreshed at once');
  // (The page's error is rethrown on a timer of its own; Node 20's mock clock
  // re-runs a throwing timer on every tick, so this test does not tick.)
});
