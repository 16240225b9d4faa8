// The per-channel throttle, with fake timers: leading call at once, one
// trailing call per window carrying the latest data, nothing dropped.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { internals } from './helpers.mjs';

const { throttle } = await internals();

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => mock.timers.reset());

test('a burst of 100 messages in one second gives at most 3 calls, the last with the last data', () => {
  const calls = [];
  const t = throttle((data) => calls.push([Date.now(), data]), 500);
  for (let i = 0; i < 100; i++) {
    t(i);
    mock.timers.tick(10);
  }
  mock.timers.tick(2000);
  assert.ok(calls.length <= 3, `${calls.length} calls`);
  assert.deepEqual(calls.at(-1)[1], 99);
  assert.deepEqual(calls[0], [0, 0], 'the first message is delivered at once');
});

test('calls are at least one window apart and the trailing call comes at the window end', () => {
  const calls = [];
  const t = throttle((data) => calls.push([Date.now(), data]), 500);
  t('a');
  mock.timers.tick(100);
  t('b');
  t('c');
  mock.timers.tick(399);
  assert.deepEqual(calls, [[0, 'a']]);
  mock.timers.tick(1);
  assert.deepEqual(calls, [[0, 'a'], [500, 'c']]);
  // A quiet window after the trailing call resets: the next message is a leading call again.
  mock.timers.tick(600);
  t('d');
  assert.deepEqual(calls.at(-1), [1100, 'd']);
});

test('a single message is delivered once, with no trailing duplicate', () => {
  const calls = [];
  const t = throttle((data) => calls.push(data), 500);
  t(1);
  mock.timers.tick(5000);
  assert.deepEqual(calls, [1]);
});

test('cancel drops the pending trailing call', () => {
  const calls = [];
  const t = throttle((data) => calls.push(data), 500);
  t(1);
  t(2);
  t.cancel();
  mock.timers.tick(5000);
  assert.deepEqual(calls, [1]);
});

test('a throwing callback does not wedge the throttle', () => {
  const calls = [];
  const t = throttle((data) => {
    calls.push(data);
    if (data === 1) throw new Error('page bug');
  }, 500);
  assert.throws(() => t(1), /page bug/);
  t(2);
  mock.timers.tick(500);
  t(3);
  mock.timers.tick(500);
  assert.deepEqual(calls, [1, 2, 3]);
});

test('a zero window still delivers every distinct macrotask', () => {
  const calls = [];
  const t = throttle((data) => calls.push(data), 0);
  t(1);
  mock.timers.tick(1);
  t(2);
  mock.timers.tick(1);
  assert.deepEqual(calls, [1, 2]);
});
