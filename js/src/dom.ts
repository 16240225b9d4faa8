/**
 * Hints as DOM events, and subscriptions declared in markup: live fragments
 * with no page script. With htmx,
 *
 *   <div data-fanout-subscribe="comments-7" hx-get="/comments/7"
 *        hx-trigger="fanout:comments-7 from:body"></div>
 *
 * refetches the fragment on every hint (after the throttle). Elements swapped
 * in later subscribe when they appear and unsubscribe when they go.
 * `data-fanout-poll` on the element also fires the event (with `null` data) at
 * the polling fallback's cadence, so the fragment stays right while realtime
 * is down.
 */
import { doc } from './env';
import { call } from './events';

interface Api {
  subscribe(channel: string, callback: () => void): () => void;
  poll(fn: () => void): () => void;
}


const SUBSCRIBE = 'data-fanout-subscribe';
const POLL = 'data-fanout-poll';

/** Dispatches `fanout:<channel>` and `fanout:hint` on `document.body`, detail `{channel, data}`. */
export function fire(channel: string, data: unknown): void {
  const body = doc?.body;
  if (body) for (const type of ['fanout:' + channel, 'fanout:hint']) body.dispatchEvent(new CustomEvent(type, { detail: { channel, data } }));
}

/** Keeps one subscription (and poller) per `[data-fanout-subscribe]` element in the document. */
export function declare<C extends Api>(client: C): C {
  const root = doc;
  if (!root || typeof MutationObserver == 'undefined') return client;
  // element -> [what it asked for, the functions that undo it]
  const seen = new Map<Element, [string, (() => void)[]]>();
  const scan = (): void => {
    const now = new Map<Element, string>();
    root.querySelectorAll(`[${SUBSCRIBE}]`).forEach((el) => now.set(el, el.getAttribute(SUBSCRIBE)! + el.hasAttribute(POLL)));
    seen.forEach(([wanted, offs], el) => {
      if (now.get(el) !== wanted) {
        offs.forEach((off) => off());
        seen.delete(el);
      }
    });
    now.forEach((wanted, el) => {
      if (seen.has(el)) return;
      const names = el.getAttribute(SUBSCRIBE)!.split(/\s+/).filter(Boolean);
      const offs: (() => void)[] = [];
      // A bad name throws (asynchronously, naming it) without stopping the others.
      names.forEach((name) => call(() => offs.push(client.subscribe(name, () => {}))));
      if (el.hasAttribute(POLL)) offs.push(client.poll(() => names.forEach((name) => fire(name, null))));
      seen.set(el, [wanted, offs]);
    });
  };
  new MutationObserver(scan).observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: [SUBSCRIBE, POLL] });
  scan();
  return client;
}
