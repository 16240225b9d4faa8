// temporary size probe: replaces modules by stubs to measure their gzip cost
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
const stubs = {
  share: `export const share = (m) => m;`,
  dom: `export const fire = () => {}; export const declare = (c) => c;`,
};
async function size(backend, without = [], extra = {}) {
  const plugin = { name: 'stub', setup(b) {
    b.onResolve({ filter: /\/(share|dom)$/ }, (a) => without.includes(a.path.split('/').pop()) ? { path: a.path, namespace: 'stub' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({ contents: stubs[a.path.split('/').pop()], loader: 'ts' }));
  } };
  const r = await build({ entryPoints: ['src/browser.ts'], bundle: true, format: 'iife', minify: true, target: ['es2020'], write: false, plugins: [plugin],
    define: { __VERSION__: '"0.2.0"', __BACKEND__: JSON.stringify(backend) }, ...extra });
  return [r.outputFiles[0].contents.length, gzipSync(r.outputFiles[0].contents, { level: 9 }).length];
}
const M = process.env.MANGLE ? { mangleProps: new RegExp(process.env.MANGLE) } : {};
for (const b of ['bayeux', 'grip']) {
  console.log(b, 'full', await size(b, [], M), 'no share', await size(b, ['share'], M), 'no dom', await size(b, ['dom'], M), 'neither', await size(b, ['share', 'dom'], M));
}
