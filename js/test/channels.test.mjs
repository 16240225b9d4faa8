// The channel rule against the server's own table of cases (tests/channels.json,
// generated from flask_fanout._channels): the browser module accepts exactly
// what publish() accepts, and the longest prefix plus the longest name can be
// subscribed to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, internals, require } from './helpers.mjs';

const table = JSON.parse(readFileSync(join(REPO, 'tests/channels.json'), 'utf8'));
const { checkChannel, createClient, transports } = await internals();
const valid = (name) => {
  try {
    checkChannel(name);
    return true;
  } catch (error) {
    assert.equal(error.name, 'TypeError');
    assert.match(error.message, /bad channel name/);
    return false;
  }
};

test('every valid name of the table is accepted', () => {
  for (const name of table.valid) assert.ok(valid(name), JSON.stringify(name));
});

test('every invalid name of the table is rejected', () => {
  for (const name of table.invalid) assert.ok(!valid(name), JSON.stringify(name));
});

test('the allowed characters are exactly the table\'s', () => {
  // "A-Z a-z 0-9 - _ ! ~ ( ) $ @" -> the set of characters it names.
  const allowed = new Set();
  for (const item of table.chars.split(' ')) {
    if (/^.-.$/.test(item)) for (let c = item.charCodeAt(0); c <= item.charCodeAt(2); c++) allowed.add(String.fromCharCode(c));
    else allowed.add(item);
  }
  assert.equal(allowed.size, 26 + 26 + 10 + 8);
  for (let code = 0; code < 0x3000; code++) {
    const c = String.fromCharCode(code);
    assert.equal(valid(c), allowed.has(c), `U+${code.toString(16)} ${JSON.stringify(c)}`);
  }
});

test('the length limit and the reserved names are the table\'s', () => {
  assert.ok(valid('x'.repeat(table.max_length)));
  assert.ok(!valid('x'.repeat(table.max_length + 1)));
  for (const name of table.reserved) {
    assert.ok(!valid(name), name);
    // Reserved as whole names only, whatever the prefix.
    assert.ok(valid(`${name}-1`) && valid(`x${name}`));
  }
});

test('only strings are channel names', () => {
  for (const bad of [undefined, null, 123, ['a'], { toString: () => 'a' }]) assert.ok(!valid(bad), String(bad));
});

test('the longest valid prefix plus the longest name is subscribable, and a Bayeux channel Faye accepts', () => {
  const longestPrefix = table.valid_prefixes.reduce((a, b) => (b.length > a.length ? b : a));
  assert.equal(longestPrefix.length, table.max_prefix_length);
  const longestName = 'n'.repeat(table.max_length);
  const Grammar = require('faye/src/protocol/grammar');
  for (const prefix of table.valid_prefixes) {
    const paths = [];
    transports.recording = (host) => ({ update: () => paths.push(...host.list().map((c) => '/' + host.cfg.channelPrefix + c)) });
    const client = createClient({ backend: 'recording', channelPrefix: prefix });
    client.subscribe(longestName, () => {});
    assert.deepEqual(paths, [`/${prefix}${longestName}`]);
    assert.match(paths[0], Grammar.CHANNEL_NAME, 'Faye would subscribe to it');
  }
  delete transports.recording;
});
