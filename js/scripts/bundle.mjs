// One bundle of the browser module: esbuild bundles (leaving out the other
// backend's transport), terser then shaves what matters under gzip. Used by
// build.mjs, and by the build test to measure what each feature costs.
import { build } from 'esbuild';
import { minify as terse } from 'terser';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

// Property names used only inside the module (the transport seam, internal
// records): shortened like local names. Never a config key, an API name, a
// field of the wire format or of Faye.
const INTERNAL = /^(list|deliver|setState|refuse|resync|cfg|update|log|emit)$/;

/**
 * Bundles `src/<entry>` as `format` ('iife' or 'esm') for `backend` ('bayeux',
 * 'grip', or '' for both). `without` names modules ('share', 'dom') replaced by
 * do-nothing stand-ins, only to measure their cost.
 */
export async function bundle(entry, format, backend, { version, minify = true, without = [] }) {
  const banner = `/*! flask-fanout ${version}${backend ? ' ' + backend : ''} | MIT */`;
  const result = await build({
    entryPoints: [join(src, entry)],
    bundle: true,
    format,
    minify,
    ...(minify && { mangleProps: INTERNAL }),
    target: ['es2020'],
    platform: 'browser',
    write: false,
    legalComments: 'none',
    charset: 'utf8',
    plugins: [stubs(without)],
    define: { __VERSION__: JSON.stringify(version), __BACKEND__: JSON.stringify(backend) },
    ...(!minify && { banner: { js: banner } }),
  });
  const code = result.outputFiles[0].text;
  if (!minify) return code;
  // esbuild bundles; terser then shaves what matters under gzip (a few %).
  const out = await terse(code, {
    ecma: 2020,
    module: format == 'esm',
    compress: { passes: 3 },
    mangle: { toplevel: true },
    format: { preamble: banner },
  });
  return out.code + '\n';
}

const STUBS = {
  share: 'export const share = (make) => make;',
  dom: 'export const fire = () => {}; export const declare = (client) => client;',
};

function stubs(without) {
  return {
    name: 'stubs',
    setup(b) {
      b.onResolve({ filter: /^\.\/(share|dom)$/ }, (args) => {
        const name = args.path.slice(2);
        return without.includes(name) ? { path: name, namespace: 'stub' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({ contents: STUBS[args.path], loader: 'ts' }));
    },
  };
}
