/**
 * The Bayeux transport: a Fanout realm (local or Fanout Cloud) through the
 * Faye client. Everything that knows Faye lives here, its private parts
 * included.
 *
 * Faye is not bundled: it is fetched on the first subscribe, from the URL and
 * integrity hash the page's config element names (or taken from
 * `configure({Faye})` / `window.Faye`), so pages that never subscribe pay
 * nothing. A realm channel `c` is the Bayeux channel `/<prefix>c`.
 */
import { doc } from '../env';
import type { State } from '../events';
import type { Transport, TransportFactory } from '../transport';

export interface FayeSubscription {
  cancel(): void;
  callback?(fn: () => void): void;
  errback?(fn: (error: unknown) => void): void;
}

export interface FayeMessage {
  channel: string;
  advice?: { timeout?: number };
  [key: string]: unknown;
}

interface FayeClient {
  subscribe(channel: string, callback: (data: unknown) => void): FayeSubscription;
  on(event: string, fn: () => void): void;
  disable?(feature: string): void;
  addExtension(extension: object): void;
  disconnect?(): void;
  // Private in Faye, but stable across 1.x and Fanout's fork; read defensively.
  _dispatcher?: FayeDispatcher;
}

interface FayeEnvelope {
  message: FayeMessage;
  request?: unknown;
  timer?: ReturnType<typeof setTimeout> | null;
}

interface FayeDispatcher {
  connectionType?: string;
  selectTransport?(types: string[]): void;
  _envelopes?: Map<string, FayeEnvelope>;
  _sendEnvelope?(envelope: FayeEnvelope): void;
  handleError?(message: FayeMessage, immediate?: boolean): void;
}

export interface FayeNamespace {
  Client: new (url: string, options?: object) => unknown;
  VERSION?: string;
}

const HTTP_TRANSPORTS = ['long-polling', 'cross-origin-long-polling', 'callback-polling'];
const G = globalThis as unknown as { Faye?: FayeNamespace };

/**
 * Makes the Bayeux transport factory. Called while the module first runs:
 * `document.currentScript` only exists then, so the nonce of our own <script>
 * tag (the page's CSP nonce) is captured now, for the Faye element.
 */
export const faye = (): TransportFactory => {
  const scriptNonce = (doc?.currentScript as HTMLScriptElement | null)?.nonce;
  return (host): Transport => {
    const { log } = host;
    let cfg = host.cfg;
    // Bayeux path -> Faye subscription, for the channels currently carried.
    const subs = new Map<string, FayeSubscription>();
    let client: FayeClient | undefined;
    let loading = false;
    let script: HTMLScriptElement | undefined;
    let fellBack = false;
    let fallbackTimer: ReturnType<typeof setTimeout> | undefined;
    let pendingConnect: FayeMessage | undefined;
    let probe: unknown;
    let probeTimer: ReturnType<typeof setTimeout> | undefined;
    let now: State = 'idle';

    const connectionType = (): string | null => client?._dispatcher?.connectionType || null;
    // Reports a state (by default the current one) with Faye's connection type.
    const set = (state: State = now): void => host.setState((now = state), connectionType());

    const fail = (error: Error): void => {
      loading = false;
      set('failed');
      host.emit('error', error);
    };

    // Subscribes to what is wanted and leaves what is not.
    const update = (): void => {
      const wanted = new Map(host.list().map((name) => ['/' + cfg.channelPrefix + name, name]));
      subs.forEach((sub, path) => {
        if (!wanted.has(path)) {
          subs.delete(path);
          // Faye ignores a cancel() that comes before its subscribe is sent, and
          // then subscribes anyway; cancelling once it is acknowledged always works.
          sub.callback ? sub.callback(() => sub.cancel()) : sub.cancel();
        }
      });
      if (!client) {
        // 'failed' is retried by the next change: a network blip while loading
        // should not leave the page on polling until it is reloaded.
        if (!loading && wanted.size) start();
        return;
      }
      wanted.forEach((name, path) => {
        if (subs.has(path)) return;
        const sub = client!.subscribe(path, (data) => host.deliver(name, data));
        sub.errback?.((error) => host.emit('error', error));
        subs.set(path, sub);
      });
    };

    function start(): void {
      // A retry uses the settings of now (configure() may have brought a Faye).
      cfg = host.cfg;
      const Faye = cfg.Faye || G.Faye;
      if (Faye) return connect(Faye);
      const url = cfg.fayeUrl;
      if (!url || !doc) return fail(new Error('fanout: no Faye client and no fayeUrl to load it from'));
      loading = true;
      set('loading');
      // A retry replaces the failed element: the page never holds two.
      script?.remove();
      const el = (script = doc.createElement('script'));
      const attrs: Record<string, string | null | undefined> = {
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
      el.onload = () => (G.Faye ? connect(G.Faye) : failed());
      doc.head.appendChild(el);
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
      set();
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
    function connect(Faye: FayeNamespace): void {
      try {
        open(Faye);
      } catch (error) {
        client?.disconnect?.();
        client = undefined;
        fail(error as Error);
      }
    }

    function open(Faye: FayeNamespace): void {
      // Stock Faye throws on unknown options; Fanout's fork has transportMode natively.
      const fork = /fanout/i.test(Faye.VERSION || '');
      const manage = !fork && cfg.transportMode == 'fallback';
      const c = (client = new Faye.Client(cfg.bayeuxUrl, fork ? { transportMode: cfg.transportMode } : {}) as FayeClient);
      log('Faye', Faye.VERSION, fork ? 'fork' : 'stock', cfg.transportMode, cfg.bayeuxUrl);
      loading = false;
      set('connecting');
      c.addExtension({
        outgoing(message: FayeMessage, next: (m: FayeMessage) => void) {
          set();
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
        set('connected');
      });
      c.on('transport:down', () => {
        // The retried /meta/connect asks for an immediate answer, so `connected`
        // fires as soon as the server is reachable again instead of a poll later.
        if (pendingConnect) pendingConnect.advice = { timeout: 0 };
        set('disconnected');
        if (manage && connectionType() == 'websocket') {
          clearTimeout(fallbackTimer);
          fallbackTimer = setTimeout(fallBack, cfg.fallbackDelay);
        }
      });
      update();
    }

    return { update };
  };
};
