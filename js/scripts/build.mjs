// Builds the browser files into the Python package's static folder.
//
// The output must be byte-for-byte reproducible: the Python side serves these
// files with SRI hashes computed from their bytes, so two builds of the same
// source must agree. esbuild is deterministic; we add no timestamps, and files
// are only rewritten when their content changes.
import { build } from 'esbuild';
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` lets the tests build elsewhere and compare with the shipped files.
const outArg = process.argv.indexOf('--out');
const STATIC = outArg > 0 ? resolve(process.argv[outArg + 1]) : resolve(root, '../flask_fanout/static');
const shown = outArg > 0 ? STATIC : 'flask_fanout/static';
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const fayeDir = join(root, 'node_modules/faye');
const faye = JSON.parse(readFileSync(join(fayeDir, 'package.json'), 'utf8'));

const names = {
  iife: `flask-fanout-${pkg.version}.min.js`,
  esm: `flask-fanout-${pkg.version}.mjs`,
  dts: 'flask-fanout.d.ts',
  faye: `faye-browser-${faye.version}.min.js`,
  fayeLicense: 'faye-LICENSE.txt',
};

async function bundle(entry, format) {
  const result = await build({
    entryPoints: [join(root, 'src', entry)],
    bundle: true,
    format,
    minify: true,
    target: ['es2019'],
    platform: 'browser',
    write: false,
    legalComments: 'none',
    charset: 'utf8',
    define: { __VERSION__: JSON.stringify(pkg.version) },
    banner: { js: `/*! flask-fanout ${pkg.version} | MIT | Faye is loaded separately (Apache-2.0) */` },
  });
  return result.outputFiles[0].contents;
}

function put(name, bytes) {
  const path = join(STATIC, name);
  const data = Buffer.from(bytes);
  if (existsSync(path) && readFileSync(path).equals(data)) return false;
  writeFileSync(path, data);
  return true;
}

mkdirSync(STATIC, { recursive: true });
// Files of other versions would confuse flask_fanout._static's globbing.
const wanted = new Set(Object.values(names));
for (const name of readdirSync(STATIC)) {
  if (/^(flask-fanout-.*\.(min\.js|mjs)|faye-browser-.*\.min\.js)$/.test(name) && !wanted.has(name)) {
    unlinkSync(join(STATIC, name));
  }
}

const licence = ['LICENSE.md', 'LICENSE', 'LICENSE.txt'].map((f) => join(fayeDir, f)).find(existsSync);
const outputs = {
  [names.iife]: await bundle('browser.ts', 'iife'),
  [names.esm]: await bundle('index.ts', 'esm'),
  [names.dts]: readFileSync(join(root, 'types/flask-fanout.d.ts')),
  [names.faye]: readFileSync(join(fayeDir, 'client/faye-browser-min.js')),
  [names.fayeLicense]: readFileSync(licence),
};
for (const [name, bytes] of Object.entries(outputs)) {
  const changed = put(name, bytes);
  console.log(`${changed ? 'wrote    ' : 'unchanged'} ${shown}/${name} (${bytes.length} B)`);
}
