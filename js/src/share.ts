/**
 * One connection per browser, not per tab.
 *
 * Over HTTP/1.1 a browser allows six connections per host, shared by every
 * tab: a stream (or a held long-poll) per tab leaves a seventh tab, and the
 * app's own requests, hanging. So tabs of one origin elect a leader with a Web
 * Lock; only the leader runs the real transport, carrying the union of every
 * tab's channels, and relays hints, state changes and refusals to the others
 * over a BroadcastChannel. Each tab still throttles, calls back and fires DOM
 * events itself.
 *
 * When the leader tab goes, its lock is released and the next waiting tab
 * takes over at once: it asks every tab for its channels, reports
 * `disconnected` then its own transport's states (so pollers refresh on the
 * return), and once connected makes every tab refetch, so nothing published
 * during the handover is missed. Without Web Locks or BroadcastChannel, each
 * tab runs its own transport (Web Locks exist only in secure contexts:
 * https, or http on localhost). A tab that crashes without `pagehide` leaves
 * its channels in the union until the leader changes: extra channels, no harm.
 *
 * Both backends are shared. A Bayeux WebSocket holds none of the six HTTP/1.1
 * connections, but its long-polling fallback holds one per tab, exactly like a
 * stream; sharing also leaves the realm one session per browser, not per tab.
 * The leader's `maxChannels` applies to the union.
 */
import type { Host, Transport, TransportFactory } from './transport';

// Messages are [type, a, b]: 't' a tab's channels [id, channels]; 'l' a new
// leader; from the leader, 'h' a hint [channel, data], 's' its state [state,
// transport], 'r' a refusal [channel, why], 'y' "refetch everything".
type Message = [string, any?, any?];

export const share =
  (make: TransportFactory): TransportFactory =>
  (host): Transport => {
    const G = globalThis as unknown as Window & { BroadcastChannel?: unknown };
    const locks = G.navigator?.locks;
    const { cfg } = host;
    const key = 'flask-fanout ' + (cfg.streamUrl || cfg.bayeuxUrl);
    // Without both APIs (or outside a secure context, where there are no
    // Web Locks), each tab has a transport of its own.
    if (!locks || !G.BroadcastChannel) return make(host);
    const bus = new BroadcastChannel(key);
    const id = Math.random();
    // Leader only: the channels of every other tab.
    const tabs = new Map<number, string[]>();
    let inner: Transport | undefined;
    let last: Message | undefined;
    // A leader was heard before this tab took over.
    let followed = false;
    let takeover = false;
    const post = (message: Message): void => bus.postMessage(message);
    const announce = (): void => post(['t', id, host.list()]);
    // What a follower does with the leader's messages ('l': tell it our channels).
    const follow: Record<string, (a?: any, b?: any) => void> = {
      h: host.deliver,
      s: host.setState,
      r(c, why) {
        host.refuse(c, why);
        announce();
      },
      y: host.resync,
      l: announce,
    };

    bus.onmessage = ({ data: [type, a, b] }: MessageEvent<Message>) => {
      if (inner) {
        if (type == 't') {
          b.length ? tabs.set(a, b) : tabs.delete(a);
          inner.update();
          if (last) post(last);
        }
      } else if (follow[type]) {
        followed ||= type == 's';
        follow[type](a, b);
      }
    };

    // The leader does what its transport reports, and tells the others.
    const relay =
      (type: string, fn: (a?: any, b?: any) => void) =>
      (a?: any, b?: any): void => {
        fn(a, b);
        post(type == 's' ? (last = [type, a, b]) : [type, a, b]);
        if (type == 's' && a == 'connected' && takeover) {
          takeover = false;
          resync();
        }
      };
    const resync = relay('y', host.resync);

    const lead = (): void => {
      host.log('leading the tabs');
      const leader: Host = {
        ...host,
        list: () => [...new Set([host.list(), ...tabs.values()].flat())],
        deliver: relay('h', host.deliver),
        setState: relay('s', host.setState),
        refuse: relay('r', host.refuse),
        resync,
      };
      inner = make(leader);
      post(['l']);
      if (followed) {
        takeover = true;
        leader.setState('disconnected');
      }
      inner.update();
    };

    // Granted when no other tab leads, or when the leader goes; held for good.
    locks.request(key, () => (lead(), new Promise(() => {}))).catch(lead);
    announce();
    G.addEventListener?.('pagehide', () => post(['t', id, []]));
    return { update: () => (inner ? inner.update() : announce()) };
  };
