// The build: contract file names, reproducible bytes, the size budget, and
// Faye copied verbatim from the pinned npm package with its licence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundle } from '../scripts/bundle.mjs';
import { JS, PKG, REPO, STATIC, built, freshModule } from './helpers.mjs';

// Minified and gzipped, Faye excluded. The module proper (state machine,
// throttle, poller, config, transport) must fit BASE; two features asked for
// after that budget was set get their measured cost on top, each capped:
// the DOM events and declarative subscriptions (htmx with no page script),
// and one connection shared by all the tabs of a browser.
const BASE = 2560;
const COST_CAP = { dom: 380, share: 420 };
const BACKENDS = ['bayeux', 'grip'];
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

const fayePkg = JSON.parse(readFileSync(join(JS, 'node_modules/faye/package.json'), 'utf8'));
const expected = [
  ...BACKENDS.flatMap((b) => [`flask-fanout-${PKG.version}.${b}.min.js`, `flask-fanout-${PKG.version}.${b}.mjs`]),
  'flask-fanout.d.ts',
  `faye-browser-${fayePkg.version}.min.js`,
  'faye-LICENSE.txt',
];

test('the build writes the contract files into flask_fanout/static, and no others of ours', () => {
  const present = readdirSync(STATIC);
  for (const name of expected) assert.ok(present.includes(name), `${name} missing from ${present}`);
  assert.equal(present.filter((n) => /^faye-browser-.*\.min\.js$/.test(n)).length, 1);
  assert.deepEqual(
    present.filter((n) => /^flask-fanout-/.test(n)).sort(),
    expected.filter((n) => /^flask-fanout-/.test(n)).sort(),
    'the 0.1 names (flask-fanout-<v>.min.js, .mjs) are gone',
  );
});

test("the package version is the Python package's", () => {
  const pyproject = readFileSync(join(REPO, 'pyproject.toml'), 'utf8');
  const version = /^version\s*=\s*"([^"]+)"/m.exec(pyproject)[1];
  assert.equal(PKG.version, version);
});

test('faye is pinned exactly, and the lockfile agrees', () => {
  assert.match(PKG.devDependencies.faye, /^\d+\.\d+\.\d+$/);
  const lock = JSON.parse(readFileSync(join(JS, 'package-lock.json'), 'utf8'));
  assert.equal(lock.packages['node_modules/faye'].version, PKG.devDependencies.faye);
  assert.equal(fayePkg.version, PKG.devDependencies.faye);
  assert.deepEqual(PKG.dependencies ?? {}, {}, 'no runtime dependencies');
});

test('a rebuild gives the same bytes as the shipped files (reproducible, not stale)', () => {
  const out = mkdtempSync(join(tmpdir(), 'fanout-build-'));
  const result = spawnSync(process.execPath, [join(JS, 'scripts/build.mjs'), '--out', out], {
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(result.status, 0, result.stderr);
  for (const name of expected) {
    assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(STATIC, name))), `${name} differs: run npm run build`);
  }
  for (const name of readdirSync(join(out, 'dist'))) {
    assert.ok(readFileSync(join(out, 'dist', name)).equals(readFileSync(join(JS, 'dist', name))), `dist/${name} differs`);
  }
});

for (const backend of BACKENDS) {
  test(`the ${backend} module fits its budget: ${BASE} B plus the measured cost of its later features`, async (t) => {
    const file = built(backend);
    const size = gz(readFileSync(file));
    const version = PKG.version;
    const features = ['dom', 'share'];
    const without = async (names) => gz(Buffer.from(await bundle('browser.ts', 'iife', backend, { version, without: names })));
    const base = await without(features);
    const costs = {};
    for (const f of features) costs[f] = size - (await without([f]));
    const budget = BASE + Object.values(costs).reduce((a, b) => a + b, 0);
    const line = `MEASURED ${file.split('/').pop()}: ${size} B gzipped (${readFileSync(file).length} B minified); ` +
      `base ${base} B (budget ${BASE}), ${features.map((f) => `${f} +${costs[f]} B (cap ${COST_CAP[f]})`).join(', ')}`;
    t.diagnostic(line);
    console.log(line);
    assert.ok(base <= BASE, `the module without ${features} is ${base} B > ${BASE} B`);
    for (const f of features) assert.ok(costs[f] <= COST_CAP[f], `${f} costs ${costs[f]} B > ${COST_CAP[f]} B`);
    assert.ok(size <= budget, `${size} B > ${budget} B`);
  });
}

test('the GRIP build carries no Faye code and the Bayeux build no EventSource code', () => {
  const grip = readFileSync(built('grip'), 'utf8');
  const bayeux = readFileSync(built('bayeux'), 'utf8');
  assert.doesNotMatch(grip, /fayeUrl|meta\/connect|websocket/);
  assert.doesNotMatch(bayeux, /EventSource|mode=poll/);
});

test('the module does not bundle Faye', () => {
  for (const backend of BACKENDS) {
    assert.doesNotMatch(readFileSync(built(backend), 'utf8'), /jcoglan|Bayeux\s*1\.0|supportedConnectionTypes/);
  }
});

test('Faye is the npm package file, unmodified, with its Apache-2.0 licence', () => {
  const shipped = readFileSync(join(STATIC, `faye-browser-${fayePkg.version}.min.js`));
  assert.ok(shipped.equals(readFileSync(join(JS, 'node_modules/faye/client/faye-browser-min.js'))));
  assert.equal(fayePkg.license, 'Apache-2.0');
  assert.match(readFileSync(join(STATIC, 'faye-LICENSE.txt'), 'utf8'), /Apache License, Version 2\.0/);
});

test('the ES modules have the contract API as named exports plus a default', async () => {
  for (const backend of BACKENDS) {
    const mod = await freshModule(built(backend, 'mjs'));
    assert.deepEqual(
      Object.keys(mod).sort(),
      ['configure', 'createClient', 'debug', 'default', 'on', 'poll', 'state', 'subscribe', 'transport', 'version'],
    );
    assert.equal(mod.state, 'idle');
    assert.equal(mod.default.state, 'idle');
    assert.equal(mod.version, PKG.version);
    mod.default.debug = true;
    assert.equal(mod.debug, true, 'named exports are live bindings');
    mod.default.debug = false;
  }
});
