// Builds the browser files into the Python package's static folder, and the
// npm package's ES modules into dist/.
//
// One build per backend, each carrying only its own transport:
//   flask-fanout-<version>.<backend>.min.js   classic script, defines window.Fanout
//   flask-fanout-<version>.<backend>.mjs      the same as an ES module
// for <backend> in bayeux, grip. The Python side picks the file by FANOUT_BACKEND.
//
// The output must be byte-for-byte reproducible: the Python side serves these
// files with SRI hashes computed from their bytes, so two builds of the same
// source must agree. esbuild is deterministic; we add no timestamps, and files
// are only rewritten when their content changes.
import { bundle } from './bundle.mjs';
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` lets the tests build elsewhere and compare with the shipped files.
const outArg = process.argv.indexOf('--out');
const STATIC = outArg > 0 ? resolve(process.argv[outArg + 1]) : resolve(root, '../flask_fanout/static');
const DIST = outArg > 0 ? join(STATIC, 'dist') : join(root, 'dist');
// `--quiet` (npm pack's prepack) keeps stdout for npm's own output.
const quiet = process.argv.includes('--quiet');
const shown = outArg > 0 ? STATIC : 'flask_fanout/static';
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const fayeDir = join(root, 'node_modules/faye');
const faye = JSON.parse(readFileSync(join(fayeDir, 'package.json'), 'utf8'));
const BACKENDS = ['bayeux', 'grip'];
const version = pkg.version;

const names = {
  ...Object.fromEntries(
    BACKENDS.flatMap((b) => [
      [`${b}Iife`, `flask-fanout-${pkg.version}.${b}.min.js`],
      [`${b}Esm`, `flask-fanout-${pkg.version}.${b}.mjs`],
    ]),
  ),
  dts: 'flask-fanout.d.ts',
  faye: `faye-browser-${faye.version}.min.js`,
  fayeLicense: 'faye-LICENSE.txt',
};

function put(dir, name, bytes, label = shown) {
  const path = join(dir, name);
  const data = Buffer.from(bytes);
  const changed = !(existsSync(path) && readFileSync(path).equals(data));
  if (changed) writeFileSync(path, data);
  if (!quiet) console.log(`${changed ? 'wrote    ' : 'unchanged'} ${label}/${name} (${data.length} B)`);
}

mkdirSync(STATIC, { recursive: true });
mkdirSync(DIST, { recursive: true });
// Files of other versions (or the 0.1 un-suffixed names) would confuse
// flask_fanout's globbing and be served stale.
const wanted = new Set(Object.values(names));
for (const name of readdirSync(STATIC)) {
  if (/^(flask-fanout-.*\.(min\.js|mjs)|faye-browser-.*\.min\.js)$/.test(name) && !wanted.has(name)) {
    unlinkSync(join(STATIC, name));
  }
}

const licence = ['LICENSE.md', 'LICENSE', 'LICENSE.txt'].map((f) => join(fayeDir, f)).find(existsSync);
const outputs = {
  [names.dts]: readFileSync(join(root, 'types/flask-fanout.d.ts')),
  [names.faye]: readFileSync(join(fayeDir, 'client/faye-browser-min.js')),
  [names.fayeLicense]: readFileSync(licence),
};
for (const b of BACKENDS) {
  outputs[names[`${b}Iife`]] = await bundle('browser.ts', 'iife', b, { version });
  outputs[names[`${b}Esm`]] = await bundle('index.ts', 'esm', b, { version });
}
for (const [name, bytes] of Object.entries(outputs)) put(STATIC, name, bytes);

// The npm package: readable ES modules (bundlers minify), both backends in the
// main entry, one each in the subpath entries.
const label = outArg > 0 ? DIST : 'js/dist';
put(DIST, 'flask-fanout.mjs', await bundle('index.ts', 'esm', '', { version, minify: false }), label);
for (const b of BACKENDS) put(DIST, `${b}.mjs`, await bundle('index.ts', 'esm', b, { version, minify: false }), label);
put(DIST, 'LICENSE.txt', readFileSync(join(root, '../LICENSE.txt')), label);

// The example app's htmx page loads htmx from the pinned npm package, copied
// at build time and never committed (example/static/vendor/ is gitignored).
// Not part of the Python package or the npm package: only the example uses it.
if (outArg < 0) {
  const htmxDir = join(root, 'node_modules/htmx.org');
  const vendor = resolve(root, '../example/static/vendor');
  mkdirSync(vendor, { recursive: true });
  put(vendor, 'htmx.min.js', readFileSync(join(htmxDir, 'dist/htmx.min.js')), 'example/static/vendor');
  put(vendor, 'htmx-LICENSE.txt', readFileSync(join(htmxDir, 'LICENSE')), 'example/static/vendor');
}
