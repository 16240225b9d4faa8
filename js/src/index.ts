/**
 * Flask-Fanout's browser client: realtime hints from a Fanout realm (Bayeux,
 * through the Faye client) plus the polling safety net around them.
 *
 * Faye is not bundled: it is fetched on the first subscribe, from the URL and
 * integrity hash the page's config element names, so pages that never subscribe
 * pay nothing and the module itself stays under its 2.5 KB (gzipped) budget.
 */
import { config, configure, type Config, type FayeClient, type FayeMessage, type FayeNamespace, type FayeSubscription } from './config';
import { call, debug, emit, log, on, setDebug, setState, setTransport, state, transport, type State } from './events';
import { startPoller } from './poll';
import { throttle, type Throttled } from './throttle';

export { configure, on, state, transport, debug };
export type { Config, State };

declare const __VERSION__: string;
export const version: string = __VERSION__;

type Callback = (data: unknown, channel: string) => void;

interface Channel {
  subs: Set<Throttled<[unknown]>>;
  faye?: FayeSubscription;
}

const HTTP_TRANSPORTS = ['long-polling', 'cross-origin-long-polling', 'callback-polling'];
const G = globalThis as unknown as { Faye?: FayeNamespace };

// `document.currentScript` only exists while this file first runs, so the
// nonce of our own <script> tag (the page's CSP nonce) is captured now.
const scriptNonce =
  (typeof document != 'undefined' && (document.currentScript as HTMLScriptElement | null)?.nonce) || null;

const channels = new Map<string, Channel>();
let client: FayeClient | undefined;
let script: HTMLScriptElement | undefined;
let fellBack = false;
let fallbackTimer: ReturnType<typeof setTimeout> | undefined;
let pendingConnect: FayeMessage | undefined;
let probe: unknown;
let probeTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * Listens for `callback(data, channel)` on `channel` (a name as written on the
 * server, without `/`), at most once per throttle window. Returns the function
 * that stops listening; calling it again does nothing.
 */
export function subscribe(channel: string, callback: Callback, options: { throttle?: number } = {}): () => void {
  const cfg = config();
  const segment = cfg.channelPrefix + channel;
  // The rule of flask_fanout._channels: one Bayeux segment, not a reserved one.
  if (!/^[\w\-!~()$@]+$/.test(channel) || /^(meta|service)$/.test(segment)) {
    throw new TypeError(`fanout: bad channel name ${JSON.stringify(channel)}`);
  }
  const path = '/' + segment;
  const sub = throttle((data: unknown) => callback(data, channel), options.throttle ?? cfg.throttle);
  let entry = channels.get(path);
  if (!entry) {
    channels.set(path, (entry = { subs: new Set() }));
    if (client) listen(path, entry);
  }
  entry.subs.add(sub);
  start(cfg);
  const own = entry;
  return () => {
    sub.cancel();
    if (own.subs.delete(sub) && !own.subs.size) {
      channels.delete(path);
      // Faye ignores a cancel() that comes before its subscribe is sent, and
      // then subscribes anyway; cancelling once it is acknowledged always works.
      const f = own.faye;
      f?.callback ? f.callback(() => f.cancel()) : f?.cancel();
    }
  };
}

/**
 * Calls `fn` every `interval` seconds while realtime is not up, every
 * `connectedInterval` seconds while it is, at once when the transport returns
 * after an outage or the page becomes visible, and never while it is hidden.
 */
export function poll(fn: () => void, options: { interval?: number; connectedInterval?: number } = {}): () => void {
  const cfg = config();
  return startPoller(fn, options.interval ?? cfg.pollInterval, options.connectedInterval ?? cfg.pollConnectedInterval);
}

function listen(path: string, entry: Channel): void {
  // One page callback that throws must not starve the others on the channel.
  entry.faye = client!.subscribe(path, (data) => entry.subs.forEach((sub) => call(sub, data)));
  entry.faye.errback?.((error) => emit('error', error));
}

function fail(error: Error): void {
  setState('failed');
  emit('error', error);
}

function start(cfg: Config): void {
  // 'failed' is retried by the next subscribe: a network blip while loading
  // should not leave the page on polling until it is reloaded.
  if (state !== 'idle' && state !== 'failed') return;
  const Faye = cfg.Faye || G.Faye;
  if (Faye) return connect(Faye, cfg);
  const url = cfg.fayeUrl;
  if (!url || typeof document == 'undefined') return fail(new Error('fanout: no Faye client and no fayeUrl to load it from'));
  setState('loading');
  // A retry replaces the failed element: the page never holds two.
  script?.remove();
  const el = (script = document.createElement('script'));
  const attrs: Record<string, string | null> = {
    src: url,
    integrity: cfg.fayeIntegrity,
    crossorigin: 'anonymous',
    nonce: cfg.nonce || scriptNonce,
  };
  for (const name in attrs) if (attrs[name]) el.setAttribute(name, attrs[name]!);
  el.async = true;
  // onerror covers network errors and SRI mismatches alike.
  const failed = (): void => fail(new Error('fanout: could not load Faye from ' + url));
  el.onerror = failed;
  el.onload = () => (G.Faye ? connect(G.Faye, cfg) : failed());
  document.head.appendChild(el);
}

function track(): void {
  setTransport(client?._dispatcher?.connectionType || null);
}

/**
 * Mid-session fallback for stock Faye (its issue #376): once a WebSocket has
 * been up, Faye retries it forever even when plain HTTP would work. Disabling
 * the WebSocket and re-running Faye's own transport selection keeps the same
 * Bayeux session, so subscriptions survive and the server's queued messages
 * are delivered over HTTP.
 */
function fallBack(): void {
  if (fellBack || !client) return;
  fellBack = true;
  log('WebSocket unusable, falling back to HTTP');
  client.disable?.('websocket');
  const d = client._dispatcher;
  d?.selectTransport?.(HTTP_TRANSPORTS);
  track();
  // Everything pending goes again now, over the new transport: messages stuck
  // on the dead socket (Faye would wait 1.2 x timeout for them) and messages
  // waiting out Faye's retry delay (5 s).
  d?._envelopes?.forEach?.((envelope) => {
    if (envelope.request) d.handleError?.(envelope.message, true);
    else if (envelope.timer) {
      clearTimeout(envelope.timer);
      envelope.timer = null;
      d._sendEnvelope?.(envelope);
    }
  });
}

/**
 * A Faye that is not what we expect (it throws on an option, lacks `on` or
 * `addExtension`) must not throw out of `subscribe()` or an onload handler and
 * leave the state stuck: it is a load failure like any other, and polling
 * stays in charge.
 */
function connect(Faye: FayeNamespace, cfg: Config): void {
  try {
    open(Faye, cfg);
  } catch (error) {
    client?.disconnect?.();
    client = undefined;
    fail(error as Error);
  }
}

function open(Faye: FayeNamespace, cfg: Config): void {
  // Stock Faye throws on unknown options; Fanout's fork has transportMode natively.
  const fork = /fanout/i.test(Faye.VERSION || '');
  const manage = !fork && cfg.transportMode == 'fallback';
  const c = (client = new Faye.Client(cfg.bayeuxUrl, fork ? { transportMode: cfg.transportMode } : {}) as FayeClient);
  log('Faye', Faye.VERSION, fork ? 'fork' : 'stock', cfg.transportMode, cfg.bayeuxUrl);
  setState('connecting');
  c.addExtension({
    outgoing(message: FayeMessage, next: (m: FayeMessage) => void) {
      track();
      if (message.channel == '/meta/connect') {
        pendingConnect = message;
        // WebSocket first, with a connect timeout: the first /meta/connect on
        // a WebSocket asks for an immediate answer; a socket that opened but
        // does not carry Bayeux (a proxy that swallows frames) is given up on.
        if (manage && !probe && message.connectionType == 'websocket') {
          probe = message.id;
          message.advice = { timeout: 0 };
          probeTimer = setTimeout(fallBack, cfg.connectTimeout);
        }
      }
      next(message);
    },
    incoming(message: FayeMessage, next: (m: FayeMessage) => void) {
      if (message.id == probe && message.successful) clearTimeout(probeTimer);
      next(message);
    },
  });
  c.on('transport:up', () => {
    clearTimeout(fallbackTimer);
    track();
    setState('connected');
  });
  c.on('transport:down', () => {
    // The retried /meta/connect asks for an immediate answer, so `connected`
    // fires as soon as the server is reachable again instead of a poll later.
    if (pendingConnect) pendingConnect.advice = { timeout: 0 };
    setState('disconnected');
    if (manage && transport == 'websocket') {
      clearTimeout(fallbackTimer);
      fallbackTimer = setTimeout(fallBack, cfg.fallbackDelay);
    }
  });
  channels.forEach((entry, path) => listen(path, entry));
}

const Fanout = {
  version,
  configure,
  subscribe,
  poll,
  on,
  get state(): State {
    return state;
  },
  get transport(): string | null {
    return transport;
  },
  get debug(): boolean {
    return debug;
  },
  set debug(value: boolean) {
    setDebug(value);
  },
};

export default Fanout;
