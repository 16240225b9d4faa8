// The npm package as a bundler user gets it: `npm pack`, installed into a
// fresh throwaway project, bundled with esbuild, run, and type-checked under
// `tsc --strict` through the package's `exports` map.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JS, PKG } from './helpers.mjs';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let project;
let files;

before(() => {
  const out = mkdtempSync(join(tmpdir(), 'fanout-pack-'));
  const [info] = JSON.parse(
    execFileSync(NPM, ['pack', '--json', '--pack-destination', out], { cwd: JS, encoding: 'utf8', timeout: 120000 }),
  );
  files = info.files.map((f) => f.path).sort();
  project = mkdtempSync(join(tmpdir(), 'fanout-consumer-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const result = spawnSync(NPM, ['install', join(out, info.filename), '--no-audit', '--no-fund', '--offline'], {
    cwd: project,
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(result.status, 0, result.stderr);
});

test('the tarball holds the ES modules, the types, the licence and the README, nothing else', () => {
  assert.deepEqual(files, [
    'README.md',
    'dist/LICENSE.txt',
    'dist/bayeux.mjs',
    'dist/flask-fanout.mjs',
    'dist/grip.mjs',
    'package.json',
    'types/flask-fanout.d.ts',
  ]);
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/flask-fanout/package.json'), 'utf8'));
  assert.equal(installed.version, PKG.version);
  assert.equal(installed.private, undefined);
  assert.deepEqual(installed.dependencies ?? {}, {}, 'Faye is not a dependency: it is loaded separately');
});

test('a bundler resolves the package and its per-backend entries, and the bundle runs', async () => {
  const { build } = await import('esbuild');
  writeFileSync(
    join(project, 'entry.js'),
    `import Fanout, { createClient, subscribe, version } from 'flask-fanout';
     import * as grip from 'flask-fanout/grip';
     export { Fanout, createClient, subscribe, version, grip };`,
  );
  const sizes = {};
  for (const [name, source] of [
    ['all', "export * from 'flask-fanout'; export { default } from 'flask-fanout';"],
    ['grip', "export * from 'flask-fanout/grip'; export { default } from 'flask-fanout/grip';"],
    ['bayeux', "export * from 'flask-fanout/bayeux'; export { default } from 'flask-fanout/bayeux';"],
  ]) {
    const result = await build({ stdin: { contents: source, resolveDir: project }, bundle: true, minify: true, format: 'esm', write: false });
    sizes[name] = result.outputFiles[0].contents.length;
    assert.doesNotMatch(result.outputFiles[0].text, /jcoglan|supportedConnectionTypes/, 'no Faye in the bundle');
  }
  console.log(`MEASURED bundled by esbuild (minified, not gzipped): ${JSON.stringify(sizes)}`);
  assert.ok(sizes.grip < sizes.all && sizes.bayeux < sizes.all, 'the subpath entries carry one transport');
  await build({ entryPoints: [join(project, 'entry.js')], bundle: true, format: 'esm', outfile: join(project, 'out.mjs') });
  const mod = await import(pathToFileURL(join(project, 'out.mjs')).href);
  assert.equal(mod.version, PKG.version);
  assert.equal(typeof mod.subscribe, 'function');
  assert.equal(mod.grip.default, mod.Fanout, 'both entries share the one default client');
  // A bundled page without the config element configures the module itself.
  const streams = [];
  const client = mod.createClient({ backend: 'grip', share: false, streamUrl: '/s', EventSource: class {
    constructor(url) { streams.push(url); }
    addEventListener() {}
    close() {}
  } });
  const off = client.subscribe('scores', () => {});
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(streams, ['/s?channel=scores']);
  off();
  await new Promise((r) => setTimeout(r, 100));
});

test('a consumer compiles under tsc --strict against the installed package', () => {
  const consumer = readFileSync(join(JS, 'test/types/consumer.ts'), 'utf8').replace("from './flask-fanout'", "from 'flask-fanout'");
  writeFileSync(join(project, 'consumer.ts'), consumer);
  writeFileSync(join(project, 'subpath.ts'), "import Fanout, { type State } from 'flask-fanout/grip';\nconst s: State = Fanout.state;\nconsole.log(s);\n");
  const tsc = join(JS, 'node_modules/.bin/tsc');
  const result = spawnSync(
    tsc,
    ['--strict', '--noEmit', '--target', 'es2020', '--module', 'esnext', '--moduleResolution', 'bundler', '--lib', 'es2020,dom', '--types', '', 'consumer.ts', 'subpath.ts'],
    { cwd: project, encoding: 'utf8', timeout: 60000 },
  );
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
