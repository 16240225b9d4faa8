// Shared test helpers: real servers only (our local realm, a TCP proxy in
// front of it), fresh module instances, bounded waits.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const JS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(JS, '..');
export const STATIC = join(REPO, 'flask_fanout/static');
export const PKG = JSON.parse(readFileSync(join(JS, 'package.json'), 'utf8'));
/** The built files of one backend: `min.js` (classic script) and `mjs`. */
export const built = (backend, ext = 'min.js') => join(STATIC, `flask-fanout-${PKG.version}.${backend}.${ext}`);
export const MODULE = built('bayeux');
export const ESM = built('bayeux', 'mjs');
export const require = createRequire(import.meta.url);

let instances = 0;
/**
 * A fresh instance of a built ES module. Its default client lives in a global
 * slot shared by every instance (so a page has one connection); tests that
 * need a client of their own use `createClient`.
 */
export async function freshModule(file = ESM) {
  instances += 1;
  return import(`${pathToFileURL(file).href}?instance=${instances}`);
}

/** Polls `condition` until it is truthy; fails after `timeout` ms. */
export async function waitFor(condition, { timeout = 10000, step = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Resolves with the first `event` the module emits (bounded). */
export function nextEvent(Fanout, event, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${timeout} ms`));
    }, timeout);
    const off = Fanout.on(event, (...args) => {
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}

function python() {
  const venv = join(REPO, '.venv/bin/python');
  return existsSync(venv) ? venv : 'python3';
}

/** Starts `python -m flask_fanout.realm` on a free port; resolves once it listens. */
export function startRealm(args = [], timeout = 20000) {
  const child = spawn(python(), ['-m', 'flask_fanout.realm', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`realm did not start within ${timeout} ms: ${stderr}`));
    }, timeout);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`realm exited with ${code}: ${stderr}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      const match = /^flask-fanout local realm listening on (http:\/\/\S+)$/.exec(line);
      if (out.includes('\n')) {
        clearTimeout(timer);
        if (!match) return reject(new Error(`unexpected first line: ${line}`));
        resolve({ url: match[1], stop, child });
      }
    });
  });
}

// The local realm's development key, asked of the Python package rather than
// copied, so the two cannot drift apart.
let devKey;
function localKey() {
  if (devKey) return devKey;
  const out = spawnSync(python(), ['-c', 'from flask_fanout import _local; print(_local.LOCAL_REALM_KEY)'], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error('could not read the development key: ' + out.stderr);
  return (devKey = Buffer.from(out.stdout.trim(), 'base64'));
}

const b64url = (data) => Buffer.from(data).toString('base64url');

/** An HS256 JWT as pubcontrol makes it: {iss: realm, exp: now + 1 h}. */
export function realmToken(realm = 'local', key = localKey()) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iss: realm, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Publishes `data` on `channel` through the realm's HTTP publish API. */
export async function publish(realmUrl, channel, data) {
  const response = await fetch(`${realmUrl}/realm/local/publish/`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${realmToken()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ items: [{ channel, 'json-object': data }] }),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`publish failed: ${response.status} ${await response.text()}`);
}

/**
 * A TCP proxy in front of `target` that can refuse WebSocket upgrades and kill
 * the WebSocket connections it carries, while passing plain HTTP: the network
 * conditions of Faye issue #376 (a proxy that drops WebSockets).
 */
export async function startProxy(target, { refuseWebSocket = false, blackholeWebSocket = false } = {}) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const webSockets = new Set();
  const state = { refuseWebSocket, blackholeWebSocket, upgrades: 0, refused: 0 };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes('\r\n\r\n') && head.length < 65536) return;
      client.off('data', onData);
      client.pause();
      const isUpgrade = /^upgrade:\s*websocket/im.test(head.toString('latin1').split('\r\n\r\n')[0]);
      if (isUpgrade && state.refuseWebSocket) {
        state.refused += 1;
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = net.connect(Number(port), hostname);
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      if (isUpgrade) {
        state.upgrades += 1;
        webSockets.add(client);
        client.on('close', () => webSockets.delete(client));
      }
      upstream.write(head);
      // A black-holed WebSocket opens (the 101 passes) but its frames are swallowed.
      if (isUpgrade && state.blackholeWebSocket) client.on('data', () => {});
      else client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    client.on('data', onData);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    get openWebSockets() {
      return webSockets.size;
    },
    /** Kills every WebSocket connection and refuses new upgrades; HTTP keeps working. */
    killWebSockets() {
      state.refuseWebSocket = true;
      for (const socket of webSockets) socket.destroy();
    },
    stop() {
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/**
 * Bundles internal source modules (not part of the public API) into one ES
 * module for unit tests, and imports a fresh instance of it.
 */
export async function internals() {
  const { build } = await import('esbuild');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const result = await build({
    stdin: {
      contents: `export { throttle } from './throttle'; export { startPoller } from './poll';
                 export { emitter, call } from './events'; export { checkChannel } from './channels';
                 export { createClient } from './client'; export { transports } from './transports/index';
                 export { backoff } from './transports/eventsource'; export { fire, declare } from './dom';`,
      resolveDir: join(JS, 'src'),
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    write: false,
    define: { __VERSION__: '"test"', __BACKEND__: '""' },
  });
  const dir = mkdtempSync(join(tmpdir(), 'fanout-internals-'));
  const file = join(dir, 'internals.mjs');
  writeFileSync(file, result.outputFiles[0].contents);
  return import(pathToFileURL(file).href);
}

/**
 * A jsdom page that runs the built `flask-fanout-<v>.<backend>.min.js` as a
 * classic script, as a browser would: with the config element
 * `{{ fanout.script() }}` renders, the module's own <script nonce>, and
 * `body` as the page's markup.
 */
export async function browserPage({ config, scriptNonce = null, timers = null, backend = 'bayeux', body = '', setup } = {}) {
  const { JSDOM } = await import('jsdom');
  const escape = (s) => s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  const element = config
    ? `<script type="application/json" id="flask-fanout-config">${escape(JSON.stringify(config))}</script>`
    : '';
  const dom = new JSDOM(`<!doctype html><html><head>${element}</head><body>${body}</body></html>`, {
    runScripts: 'dangerously',
    pretendToBeVisual: true,
    url: 'http://127.0.0.1:5000/page',
  });
  const w = dom.window;
  if (timers) {
    // Let the test's (mocked) timers drive the page's code.
    w.setTimeout = timers.setTimeout;
    w.clearTimeout = timers.clearTimeout;
    // And its clock: the mocked Date, when the test mocks it.
    w.Date = Date;
  }
  let hidden = false;
  Object.defineProperty(w.document, 'hidden', { configurable: true, get: () => hidden });
  // Browser APIs jsdom lacks (EventSource, fetch, Web Locks...), supplied by the test.
  setup?.(w);
  const script = w.document.createElement('script');
  if (scriptNonce) script.setAttribute('nonce', scriptNonce);
  script.textContent = readFileSync(built(backend), 'utf8');
  w.document.head.appendChild(script);
  return {
    window: w,
    document: w.document,
    Fanout: w.Fanout,
    /** Script elements the module added (not the config element or the module itself). */
    fayeScripts: () => [...w.document.querySelectorAll('script[src]')],
    setHidden(value) {
      hidden = value;
      w.document.dispatchEvent(new w.Event('visibilitychange'));
    },
    close: () => w.close(),
  };
}

/**
 * The real Faye (npm `faye`, Node build), wrapped only to keep a handle on the
 * clients the module creates so each test can disconnect them at its end.
 */
export function trackedFaye(version) {
  const Faye = require('faye');
  const clients = [];
  const options = [];
  function Client(url, opts) {
    options.push(opts);
    // Posing as Fanout's fork (which knows `transportMode`) only records the
    // options: stock Faye would throw on them.
    const client = new Faye.Client(url, version ? {} : opts);
    clients.push(client);
    return client;
  }
  return {
    Faye: { VERSION: version ?? Faye.VERSION, Client },
    clients,
    options,
    /**
     * Disconnects every client (bounded wait for the server's answer), then
     * closes its transports, so no retry timer outlives the test.
     */
    async close() {
      await Promise.all(
        clients.map(
          (c) =>
            new Promise((resolve) => {
              const timer = setTimeout(resolve, 2000);
              const done = () => (clearTimeout(timer), resolve());
              const p = c.disconnect();
              if (p) p.then(done, done);
              else done();
            }),
        ),
      );
      for (const c of clients) {
        const d = c._dispatcher;
        d.close();
        for (const sockets of Object.values(d.transports)) {
          for (const transport of sockets.values()) transport.close();
        }
        for (const envelope of d._envelopes.values()) clearTimeout(envelope.timer);
        d._envelopes.clear();
      }
    },
  };
}
