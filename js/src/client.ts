/**
 * A client: the registry of channels and callbacks, the connection state and
 * its events, the settings, and the transport that carries the channels.
 *
 * Everything a client knows lives in its closure, so clients are independent;
 * `window.Fanout` is the default one (default.ts). The transport is made on
 * the first subscribe, from the `backend` setting, and only once the settings
 * are known: from the page's config element, from `configure()`, or from
 * `createClient(config)`. Until then subscriptions wait, and nothing fails.
 */
import { checkChannel } from './channels';
import { defaults, ELEMENT_ID, type Config } from './config';
import { fire } from './dom';
import { doc } from './env';
import { emitter, call, type Listener, type State } from './events';
import { startPoller } from './poll';
import { share } from './share';
import { throttle, type Throttled } from './throttle';
import type { Host, Transport } from './transport';
import { transports } from './transports/index';

declare const __VERSION__: string;
declare const __BACKEND__: string;

export type Callback = (data: unknown, channel: string) => void;

export interface Client {
  readonly version: string;
  configure(options: Partial<Config>): void;
  subscribe(channel: string, callback: Callback, options?: { throttle?: number }): () => void;
  poll(fn: () => void, options?: { interval?: number; connectedInterval?: number }): () => void;
  on(event: string, listener: Listener): () => void;
  readonly state: State;
  readonly transport: string | null;
  debug: boolean;
}

// A channel's callbacks, each behind its own throttle, and its DOM events,
// throttled once per channel rather than once per callback.
type Entry = [Set<Throttled<[unknown]>>, Throttled<[unknown]>];

export function createClient(initial?: Partial<Config>): Client {
  const { on, emit } = emitter();
  const channels = new Map<string, Entry>();
  // Channels the server refused: reported once, and no longer asked for.
  const refused = new Set<string>();
  const overrides: Partial<Config> = {};
  let rendered: Partial<Config> | undefined;
  let configured = false;
  let state: State = 'idle';
  let name: string | null = null;
  let debug = false;
  let transport: Transport | undefined;

  const log = (...args: unknown[]): void => {
    if (debug) console.info('[fanout]', ...args);
  };

  const config = (): Config => {
    const el = !rendered && doc?.getElementById(ELEMENT_ID);
    if (el) {
      try {
        rendered = JSON.parse(el.textContent || '{}');
      } catch (error) {
        rendered = {};
        emit('error', error);
      }
    }
    return { ...defaults, ...rendered, ...overrides };
  };

  const setState = (next: State, transportName: string | null = name): void => {
    const prev = state;
    if (next != prev || transportName != name) log('state', prev, '->', (state = next), (name = transportName));
    // '_' keeps the ES module's live bindings in step.
    emit('_');
    if (next != prev) {
      emit('state', next, prev);
      if (next == 'connected') emit('connected', name);
      if (next == 'disconnected') emit('disconnected');
    }
  };

  const deliver = (channel: string, data: unknown): void => {
    const entry = channels.get(channel);
    // One page callback that throws must not starve the others on the channel.
    entry?.[0].forEach((sub) => call(sub, data));
    entry?.[1](data);
  };

  const host: Omit<Host, 'cfg'> = {
    list: () => [...channels.keys()].filter((c) => !refused.has(c)),
    deliver,
    setState,
    refuse(channel, why) {
      if (refused.has(channel)) return;
      refused.add(channel);
      if (channels.has(channel)) emit('error', Object.assign(new Error(`fanout: channel "${channel}" ${why}`), { channel }));
    },
    resync: () => channels.forEach((_, channel) => deliver(channel, null)),
    emit,
    log,
  };

  // Makes the transport once there is something to carry and the settings
  // are known; after that, tells it whenever the set of channels changes.
  function sync(): void {
    if (transport) return transport.update();
    if (!channels.size) return;
    const cfg = config();
    if (!configured && !rendered) {
      // No settings yet: wait for configure(), or for the config element if
      // it may still be on its way (a module in <head>).
      if (doc?.readyState == 'loading') doc.addEventListener('DOMContentLoaded', sync, { once: true });
      return;
    }
    const make = transports[cfg.backend];
    if (!make) {
      setState('failed');
      return emit('error', new Error(`fanout: no ${cfg.backend} transport in this build`));
    }
    // Tabs of one browser share one connection, on either backend (share.ts).
    const shared = cfg.share;
    // `cfg` is read afresh on each use, so a retried start sees later configure() calls.
    (transport = (shared ? share(make) : make)({ ...host, get cfg() { return config(); } })).update();
  }

  const configure = (options: Partial<Config>): void => {
    configured = true;
    for (const key in options) {
      const value = options[key as keyof Config];
      // Passing `undefined` means "no override", not "unset the default".
      if (value !== undefined) (overrides as Record<string, unknown>)[key] = value;
    }
    sync();
  };

  const api: Client = {
    version: __VERSION__,
    configure,
    subscribe(channel, callback, options = {}) {
      checkChannel(channel);
      const cfg = config();
      const sub = throttle((data: unknown) => callback(data, channel), options.throttle ?? cfg.throttle);
      let entry = channels.get(channel);
      if (!entry) {
        channels.set(channel, (entry = [new Set(), throttle((data: unknown) => fire(channel, data), cfg.throttle)]));
        // Subscribing anew asks the server again.
        refused.delete(channel);
      }
      const [subs, dom] = entry;
      subs.add(sub);
      sync();
      return () => {
        sub.cancel();
        if (subs.delete(sub) && !subs.size) {
          dom.cancel();
          channels.delete(channel);
          sync();
        }
      };
    },
    poll(fn, options = {}) {
      const cfg = config();
      return startPoller(fn, options.interval ?? cfg.pollInterval, options.connectedInterval ?? cfg.pollConnectedInterval, api);
    },
    on,
    get state() {
      return state;
    },
    get transport() {
      return name;
    },
    get debug() {
      return debug;
    },
    set debug(value) {
      debug = !!value;
      emit('_');
    },
  };
  if (initial) configure(initial);
  return api;
}
