/**
 * Flask-Fanout's browser client: realtime hints from a Fanout realm, with a
 * polling safety net. The same API is `window.Fanout` (the `.min.js` build)
 * and the named exports plus default export of the `.mjs` build.
 *
 * @example
 * // Refetch the comments whenever the server publishes on "comments-42",
 * // and every 5 s (300 s while connected) in case a hint is missed.
 * const refresh = () => fetch('/comments/42').then(render);
 * Fanout.subscribe('comments-42', refresh);
 * Fanout.poll(refresh);
 */

/**
 * Connection state, as reported by {@link state} and the `state` event.
 * `'failed'` means Faye could not be loaded or started; the next
 * {@link subscribe} retries.
 */
export type State = 'idle' | 'loading' | 'connecting' | 'connected' | 'disconnected' | 'failed';

/** Transport modes: see docs/javascript.md. */
export type TransportMode = 'fallback' | 'upgrade';

/** The part of the Faye namespace the module needs (for injecting Faye in Node or bundlers). */
export interface FayeNamespace {
  Client: new (url: string, options?: object) => unknown;
  VERSION?: string;
}

/**
 * Settings. The page's `<script type="application/json" id="flask-fanout-config">`
 * (rendered by `{{ fanout.script() }}`) supplies them; {@link configure} overrides any.
 */
export interface Config {
  /** The realm's Bayeux endpoint, e.g. `https://<realm>.fanoutcdn.com/bayeux`. */
  bayeuxUrl: string;
  /** Where to load the Faye browser client from on the first subscribe. */
  fayeUrl: string | null;
  /** Its Subresource Integrity hash (`sha384-...`), or null for none. */
  fayeIntegrity: string | null;
  /** `'fallback'` (default): WebSocket first, then HTTP long-polling. `'upgrade'`: Faye's own behaviour. */
  transportMode: TransportMode;
  /** Default per-channel throttle window in milliseconds (500). */
  throttle: number;
  /** Seconds between {@link poll} calls while realtime is not up (5). */
  pollInterval: number;
  /** Seconds between {@link poll} calls while it is up (300). */
  pollConnectedInterval: number;
  /** Prepended to every channel name on subscribe, as the server does on publish. */
  channelPrefix: string;
  /** CSP nonce for the Faye script element; defaults to the nonce of the module's own script tag. */
  nonce: string | null;
  /** Whether Faye is loaded on the first subscribe (true) or was rendered eagerly. */
  lazy: boolean;
  /** Milliseconds to wait for the first connection before forcing HTTP transports (10000, `'fallback'` only). */
  connectTimeout: number;
  /** Milliseconds a dead WebSocket may stay down before switching to HTTP (2000, `'fallback'` only). */
  fallbackDelay: number;
  /** A Faye namespace to use instead of `window.Faye` or loading `fayeUrl`, e.g. `require('faye')` in Node. */
  Faye: FayeNamespace | null;
}

/** Options of {@link subscribe}. */
export interface SubscribeOptions {
  /** This subscription's throttle window in milliseconds; defaults to the configured `throttle`. */
  throttle?: number;
}

/** Options of {@link poll}. */
export interface PollOptions {
  /** Seconds between calls while realtime is not up; defaults to `pollInterval`. */
  interval?: number;
  /** Seconds between calls while it is up; defaults to `pollConnectedInterval`. */
  connectedInterval?: number;
}

/** Event names and the arguments their listeners receive. */
export interface Events {
  /** The transport came up (first time or after an outage); carries the transport name. */
  connected: (transport: string | null) => void;
  /** The transport went down; Faye keeps retrying and `poll` takes over. */
  disconnected: () => void;
  /** Faye failed to load (network or SRI mismatch) or to start, a subscription was refused, or the config element is invalid. */
  error: (error: unknown) => void;
  /** Any change of {@link state}. */
  state: (state: State, previous: State) => void;
}

/** The function returned by {@link subscribe}, {@link poll} and {@link on}; calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * Overrides configuration keys (any subset). Call it before the first
 * `subscribe`: the connection is made with the values current at that time.
 *
 * @example
 * Fanout.configure({ throttle: 1000, pollInterval: 10 });
 */
export declare function configure(options: Partial<Config>): void;

/**
 * Calls `callback(data, channel)` for messages on `channel`, written as on the
 * server (no leading `/`, no channel prefix). The first message of a burst is
 * delivered at once; later ones inside the throttle window coalesce into one
 * trailing call with the latest data, so the last update is never dropped.
 * Loads Faye on first use.
 *
 * @example
 * const stop = Fanout.subscribe('event-7', (data) => reload(), { throttle: 2000 });
 * // later
 * stop();
 */
export declare function subscribe(
  channel: string,
  callback: (data: unknown, channel: string) => void,
  options?: SubscribeOptions,
): Unsubscribe;

/**
 * Runs the page's refresh function as a safety net: every `interval` seconds
 * while realtime is not up, every `connectedInterval` seconds while it is, once
 * at once when the transport returns after an outage or the page is shown
 * again, and never while the page is hidden.
 *
 * @example
 * const stop = Fanout.poll(refreshComments, { interval: 5, connectedInterval: 300 });
 */
export declare function poll(fn: () => void, options?: PollOptions): Unsubscribe;

/**
 * Listens for a module event.
 *
 * @example
 * Fanout.on('error', (e) => console.warn('realtime unavailable', e));
 * Fanout.on('state', (now, before) => badge.textContent = now);
 */
export declare function on<E extends keyof Events>(event: E, listener: Events[E]): Unsubscribe;

/** The current connection state (a live binding in the ES module). */
export declare const state: State;

/** The Faye transport in use (`'websocket'`, `'long-polling'`, ...), or null before Faye runs. */
export declare const transport: string | null;

/** Whether transport and state changes are logged to the console; set it on the default export or `window.Fanout`. */
export declare const debug: boolean;

/** This module's version (equal to the Python package's). */
export declare const version: string;

/** The whole API as one object: `window.Fanout` in the browser build, the default export of the ES module. */
export interface FanoutApi {
  readonly version: string;
  configure: typeof configure;
  subscribe: typeof subscribe;
  poll: typeof poll;
  on: typeof on;
  readonly state: State;
  readonly transport: string | null;
  /** Set to true to log transport changes to the console. */
  debug: boolean;
}

declare const Fanout: FanoutApi;
export default Fanout;

declare global {
  interface Window {
    /** Defined by `flask-fanout-<version>.min.js`. */
    Fanout: FanoutApi;
  }
}
