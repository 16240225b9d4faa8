// TypeScript: the shipped declarations work for a strict consumer, and the
// implementation matches them (types/conformance.ts, under `tsc -p .`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JS, STATIC } from './helpers.mjs';

const TSC = join(JS, 'node_modules/.bin/tsc');

function tsc(args, cwd) {
  const result = spawnSync(TSC, args, { cwd, encoding: 'utf8', timeout: 60000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

test('a consumer compiles against flask-fanout.d.ts under tsc --strict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-types-'));
  copyFileSync(join(STATIC, 'flask-fanout.d.ts'), join(dir, 'flask-fanout.d.ts'));
  copyFileSync(join(JS, 'test/types/consumer.ts'), join(dir, 'consumer.ts'));
  const { code, output } = tsc(
    ['--strict', '--noEmit', '--target', 'es2020', '--module', 'esnext', '--moduleResolution', 'bundler',
      '--lib', 'es2020,dom', '--types', '', 'consumer.ts'],
    dir,
  );
  assert.equal(code, 0, output);
});

test('a type error in a consumer is reported (the check is not vacuous)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-types-'));
  copyFileSync(join(STATIC, 'flask-fanout.d.ts'), join(dir, 'flask-fanout.d.ts'));
  writeFileSync(join(dir, 'bad.ts'), "import { poll } from './flask-fanout';\npoll(() => {}, { interval: 'often' });\n");
  const { code, output } = tsc(['--strict', '--noEmit', '--moduleResolution', 'bundler', '--module', 'esnext', '--types', '', 'bad.ts'], dir);
  assert.notEqual(code, 0);
  assert.match(output, /bad\.ts\(2,\d+\): error TS2322/);
});

test('the source is strict-clean and matches the shipped declarations', () => {
  const { code, output } = tsc(['-p', '.'], JS);
  assert.equal(code, 0, output);
});
