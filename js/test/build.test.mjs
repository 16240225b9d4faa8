// The build: contract file names, reproducible bytes, the size budget, and
// Faye copied verbatim from the pinned npm package with its licence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ESM, JS, MODULE, PKG, REPO, STATIC, freshModule } from './helpers.mjs';

const BUDGET = 2560; // 2.5 KB, minified and gzipped, Faye excluded
const fayePkg = JSON.parse(readFileSync(join(JS, 'node_modules/faye/package.json'), 'utf8'));
const expected = [
  `flask-fanout-${PKG.version}.min.js`,
  `flask-fanout-${PKG.version}.mjs`,
  'flask-fanout.d.ts',
  `faye-browser-${fayePkg.version}.min.js`,
  'faye-LICENSE.txt',
];

test('the build writes the contract files into flask_fanout/static', () => {
  const present = readdirSync(STATIC);
  for (const name of expected) assert.ok(present.includes(name), `${name} missing from ${present}`);
  assert.equal(present.filter((n) => /^faye-browser-.*\.min\.js$/.test(n)).length, 1);
  assert.equal(present.filter((n) => /^flask-fanout-.*\.min\.js$/.test(n)).length, 1);
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
});

test(`the module is at most ${BUDGET} B minified and gzipped`, (t) => {
  const size = gzipSync(readFileSync(MODULE), { level: 9 }).length;
  t.diagnostic(`flask-fanout min.js: ${readFileSync(MODULE).length} B, ${size} B gzipped`);
  console.log(`MEASURED gzipped size of ${MODULE.split('/').pop()}: ${size} B (budget ${BUDGET} B)`);
  assert.ok(size <= BUDGET, `${size} B > ${BUDGET} B`);
});

test('Faye is the npm package file, unmodified, with its Apache-2.0 licence', () => {
  const shipped = readFileSync(join(STATIC, `faye-browser-${fayePkg.version}.min.js`));
  assert.ok(shipped.equals(readFileSync(join(JS, 'node_modules/faye/client/faye-browser-min.js'))));
  assert.equal(fayePkg.license, 'Apache-2.0');
  assert.match(readFileSync(join(STATIC, 'faye-LICENSE.txt'), 'utf8'), /Apache License, Version 2\.0/);
});

test('the module does not bundle Faye', () => {
  const source = readFileSync(MODULE, 'utf8');
  assert.doesNotMatch(source, /jcoglan|Bayeux\s*1\.0|supportedConnectionTypes/);
});

test('the ES module has the contract API as named exports plus a default', async () => {
  assert.ok(ESM.endsWith('.mjs'));
  const mod = await freshModule();
  assert.deepEqual(
    Object.keys(mod).sort(),
    ['configure', 'debug', 'default', 'on', 'poll', 'state', 'subscribe', 'transport', 'version'],
  );
  assert.equal(mod.state, 'idle');
  assert.equal(mod.default.state, 'idle');
  assert.equal(mod.version, PKG.version);
  mod.default.debug = true;
  assert.equal(mod.debug, true, 'named exports are live bindings');
});
