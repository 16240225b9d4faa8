/**
 * Flask-Fanout's browser client: realtime hints from the server (a Fanout
 * realm over Bayeux, or a GRIP proxy such as Pushpin or Fastly Fanout over
 * Server-Sent Events), with a per-channel throttle, DOM events for pages
 * without script, and a polling safety net. The same API is `window.Fanout`
 * (the `.min.js` builds) and the named exports plus default export of the ES
 * modules (`.mjs` builds, and the npm package `flask-fanout`).
 *
 * **Every duration, in the config and in the API, is in milliseconds.**
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
 * `'connected'` means the server's first answer arrived (Bayeux: the first
 * `/meta/connect`; GRIP: the stream's `ready` event, or a long-poll held for
 * 2 s). `'failed'` means the transport could not be started (Faye could not
 * be loaded, no EventSource with `transportMode: 'stream'`) or the server
 * denied every channel; the next {@link subscribe} retries.
 */
export type State = 'idle' | 'loading' | 'connecting' | 'connected' | 'disconnected' | 'failed';

/**
 * How the transport is chosen.
 * - Bayeux: `'fallback'` (default: WebSocket first, HTTP long-polling when it
 *   fails, also mid-session) or `'upgrade'` (Faye's own behaviour).
 * - GRIP: `'fallback'` (default: the EventSource stream, long-polling when the
 *   stream is buffered or hangs), `'stream'` (never long-poll) or `'poll'`
 *   (long-polling only).
 */
export type TransportMode = 'fallback' | 'upgrade' | 'stream' | 'poll';

/** The part of the Faye namespace the module needs (for injecting Faye in Node or bundlers). */
export interface FayeNamespace {
  Client: new (url: string, options?: object) => unknown;
  VERSION?: string;
}

/**
 * Settings. The page's `<script type="application/json" id="flask-fanout-config">`
 * (rendered by `{{ fanout.script() }}`) supplies them; {@link configure} overrides any.
 * Durations are milliseconds.
 */
export interface Config {
  /** `'bayeux'` or `'grip'`: which transport to use. Each browser build carries one; the npm main entry both. */
  backend: string;
  /** See {@link TransportMode}. Default `'fallback'`. */
  transportMode: TransportMode;
  /** Default per-channel throttle window, ms (500). Also the window of the channel's DOM events. */
  throttle: number;
  /** Milliseconds between {@link poll} calls while realtime is not up (5000). */
  pollInterval: number;
  /** Milliseconds between {@link poll} calls while it is up (300000). */
  pollConnectedInterval: number;
  /** Bayeux: prepended to every channel name on subscribe, as the server does on publish. GRIP: `''` (the server adds it). */
  channelPrefix: string;
  /** CSP nonce for the Faye script element; defaults to the nonce of the module's own script tag. */
  nonce: string | null;
  /** Informational: whether Faye is loaded on the first subscribe (true) or was rendered eagerly. */
  lazy: boolean;
  /**
   * Milliseconds to wait for the first answer (10000). Bayeux `'fallback'`: a WebSocket
   * whose first `/meta/connect` is not answered is given up for HTTP. GRIP: a stream
   * that says nothing (no `ready`) is given up for long-polling (`'fallback'`) or reopened (`'stream'`).
   */
  connectTimeout: number;
  /** GRIP: tabs of one origin share one stream (true). Bayeux is never shared. */
  share: boolean;
  /** Bayeux: the realm's endpoint, e.g. `https://<realm>.fanoutcdn.com/bayeux` (`'/bayeux'`). */
  bayeuxUrl: string;
  /** Bayeux: where to load the Faye browser client from on the first subscribe. */
  fayeUrl: string | null;
  /** Bayeux: its Subresource Integrity hash (`sha384-...`), or null for none. */
  fayeIntegrity: string | null;
  /** Bayeux `'fallback'`: milliseconds a dead WebSocket may stay down before switching to HTTP (2000). */
  fallbackDelay: number;
  /** Bayeux: a Faye namespace to use instead of `window.Faye` or loading `fayeUrl` (Node, bundlers). */
  Faye: FayeNamespace | null;
  /** GRIP: the stream endpoint as the browser reaches it (`'/_fanout/events'`). Requested with credentials. */
  streamUrl: string;
  /** GRIP: the most channels one stream may carry (the server's limit; 0: none). Channels beyond it get an `error` event. */
  maxChannels: number;
  /**
   * GRIP: the server's keep-alive period, ms, when it sends `keep-alive` events (null: it does not).
   * A stream silent for 1.5 x this long is taken as hung and given up (as for `connectTimeout`).
   */
  keepAlive: number | null;
  /** GRIP: how long the server holds a long-poll, ms (55000); the next poll is sent before it ends. */
  longPollTimeout: number;
  /** GRIP: an EventSource class to use instead of the global one (Node, tests). */
  EventSource: typeof EventSource | null;
}

/** Options of {@link subscribe}. */
export interface SubscribeOptions {
  /** This subscription's throttle window in milliseconds; defaults to the configured `throttle`. */
  throttle?: number;
}

/** Options of {@link poll}. Milliseconds. */
export interface PollOptions {
  /** Milliseconds between calls while realtime is not up; defaults to `pollInterval` (5000). */
  interval?: number;
  /** Milliseconds between calls while it is up; defaults to `pollConnectedInterval` (300000). */
  connectedInterval?: number;
}

/** An `error` event about one channel (denied by the server, or over `maxChannels`). */
export interface ChannelError extends Error {
  /** The logical channel name. */
  channel: string;
}

/** Event names and the arguments their listeners receive. */
export interface Events {
  /** The transport came up (first time or after an outage); carries its name. */
  connected: (transport: string | null) => void;
  /** The transport went down; it keeps retrying and `poll` takes over. */
  disconnected: () => void;
  /**
   * Faye failed to load (network or SRI mismatch) or to start, a subscription was refused
   * (a {@link ChannelError}, once per channel), or the config element is invalid.
   */
  error: (error: unknown) => void;
  /** Any change of {@link state}. */
  state: (state: State, previous: State) => void;
}

/** The function returned by {@link subscribe}, {@link poll} and {@link on}; calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * Overrides configuration keys (any subset). Call it before the first
 * `subscribe`: the connection is made with the values current at that time.
 * Without a config element on the page (a bundled or imported module),
 * subscriptions wait for the first `configure()` call.
 *
 * @example
 * Fanout.configure({ throttle: 1000, pollInterval: 10000 });
 * @example
 * // A bundled page without {{ fanout.script() }}:
 * configure({ backend: 'grip', streamUrl: '/_fanout/events' });
 */
export declare function configure(options: Partial<Config>): void;

/**
 * Calls `callback(data, channel)` for hints on `channel`, written as on the
 * server (no leading `/`, no channel prefix; 1 to 128 of `A-Z a-z 0-9 - _ ! ~
 * ( ) $ @`, not `meta` or `service`, else a `TypeError`). The first hint of a
 * burst is delivered at once; later ones inside the throttle window coalesce
 * into one trailing call with the latest data, so the last update is never
 * dropped. `data` is `null` when the module asks for a refetch because a
 * hint may have been missed.
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
 * Runs the page's refresh function as a safety net: every `interval` ms
 * while realtime is not up, every `connectedInterval` ms while it is, once
 * at once when the transport returns after an outage or the page is shown
 * again, and never while the page is hidden.
 *
 * @example
 * const stop = Fanout.poll(refreshComments, { interval: 5000, connectedInterval: 300000 });
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

/**
 * The transport in use, or null before one runs: `'websocket'`, `'long-polling'`,
 * `'cross-origin-long-polling'`, `'callback-polling'` (Bayeux, Faye's names),
 * `'eventsource'` or `'long-polling'` (GRIP).
 */
export declare const transport: string | null;

/** Whether state and transport changes are logged to the console; set it on the default export or `window.Fanout`. */
export declare const debug: boolean;

/** This module's version (equal to the Python package's). */
export declare const version: string;

/** The whole API as one object: `window.Fanout`, the default export, and what {@link createClient} returns. */
export interface FanoutApi {
  readonly version: string;
  configure: typeof configure;
  subscribe: typeof subscribe;
  poll: typeof poll;
  on: typeof on;
  readonly state: State;
  readonly transport: string | null;
  /** Set to true to log state and transport changes to the console. */
  debug: boolean;
}

/**
 * A client of its own, independent of the default one (its own settings,
 * channels and connection). It reads the page's config element like the
 * default client, under `config`. Pages want the default client; this is for
 * tests and for code that needs two connections.
 *
 * @example
 * const client = createClient({ backend: 'grip', streamUrl: 'https://stream.example/_fanout/events' });
 * client.subscribe('scores', update);
 */
export declare function createClient(config?: Partial<Config>): FanoutApi;

/**
 * The default client. The classic script and every import of the ES module on
 * one page share it (and so one connection).
 */
declare const Fanout: FanoutApi;
export default Fanout;

/** `detail` of the DOM events dispatched on `document.body` after the throttle. */
export interface HintDetail {
  channel: string;
  /** The published data, or null for a refetch (missed hints, the polling fallback of `data-fanout-poll`). */
  data: unknown;
}

declare global {
  interface Window {
    /** Defined by `flask-fanout-<version>.<backend>.min.js`. */
    Fanout: FanoutApi;
  }
  interface HTMLElementEventMap {
    /**
     * Every hint, on `document.body`, after the channel's throttle; `fanout:<channel>`
     * carries the same detail. Elements with `data-fanout-subscribe="a b"` subscribe
     * without script (and `data-fanout-poll` fires their events at the polling cadence).
     */
    'fanout:hint': CustomEvent<HintDetail>;
  }
}
