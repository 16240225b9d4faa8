/**
 * The GRIP transport: one stream per page (Server-Sent Events through Pushpin,
 * Fastly Fanout or the local realm) carrying every channel, with long-polling
 * holds as its fallback. The wire format is the stream endpoint of the
 * project's protocol page: `?channel=a&channel=b` (logical names), a `ready`
 * event first, then one `message` event per hint; `&mode=poll` for a held JSON
 * answer instead.
 *
 * - Connected means the `ready` event arrived (or a poll was held for 2 s), not
 *   merely that a socket opened.
 * - A network error is retried by EventSource itself. A stream closed for good
 *   (any non-200 answer) is reopened by us, with exponential backoff from 1 s
 *   to 64 s plus up to 1 s of jitter, so a restarted proxy is not stormed.
 * - When the set of channels changes the stream is reopened once (debounced),
 *   and the old one is closed only when the new one is ready: no hint falls
 *   between them.
 * - Fallback: a stream that says nothing within `connectTimeout` of opening (a
 *   buffering proxy), or that goes silent for 1.5 x `keepAlive` (when the
 *   server promises visible keep-alive events by rendering that key), is
 *   given up for long-polling, which then stays until the page is reloaded.
 * - Long-polls overlap: the next one is sent before the current one can time
 *   out, and the old one is dropped once the new one has been held for 2 s.
 *   After an answer with hints (the one moment a hint could fall between two
 *   polls), every channel is refreshed once, 2 s after the next poll was sent.
 */
import type { State } from '../events';
import type { Transport, TransportFactory } from '../transport';

interface Answer {
  channels?: string[];
  denied?: string[];
  hints?: { channel: string; data: unknown }[];
  retry?: number | null;
}

// How long a poll must have been held before the polls before it go.
const HELD = 2000;
// Changes of the channel set within this window make one reopen.
const DEBOUNCE = 50;

/** The delay before our own reconnect number `attempt` (0, 1, ...): 1 s doubling to 64 s, plus 0-1 s. */
export const backoff = (attempt: number): number => Math.min(1000 * 2 ** attempt, 64000) + Math.random() * 1000;

export const eventSource: TransportFactory = (host): Transport => {
  const { cfg } = host;
  const ES: typeof EventSource | undefined = cfg.EventSource || (globalThis as { EventSource?: typeof EventSource }).EventSource;
  const base = cfg.streamUrl + (cfg.streamUrl.includes('?') ? '&' : '?');
  let polling = cfg.transportMode == 'poll' || (!ES && cfg.transportMode != 'stream');
  // The newest stream, and the one serving (they differ while a new one opens).
  let stream: EventSource | undefined;
  let live: EventSource | undefined;
  // Polls in flight, the newest one, and when it was sent.
  const polls = new Set<AbortController>();
  let current: AbortController | undefined;
  let sent = 0;
  let carried = '';
  let attempt = 0;
  let now: State = 'idle';
  let debounce: ReturnType<typeof setTimeout> | 0 = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let dog: ReturnType<typeof setTimeout> | undefined;
  let resync: ReturnType<typeof setTimeout> | undefined;

  const set = (state: State = now): void => host.setState((now = state), polling ? 'long-polling' : 'eventsource');

  // Our own reconnects: the backoff schedule, or the delay the server asked for.
  const later = (fn: () => void, ms = backoff(attempt++)): void => {
    clearTimeout(retry);
    host.log('retry in', ms | 0, 'ms');
    retry = setTimeout(fn, ms);
  };

  // The stream watchdog: the stream is given up if nothing is heard within `ms` (0: disarmed).
  const watch = (ms: number): void => {
    clearTimeout(dog);
    if (ms) dog = setTimeout(hang, ms);
  };

  const refuse = (answer: Answer): void => answer.denied?.forEach((c) => host.refuse(c, 'is denied'));

  // The URL for the channels to carry, or '' when there are none.
  const url = (): string => {
    const channels = host.list();
    const max = cfg.maxChannels;
    if (max) channels.splice(max).forEach((c) => host.refuse(c, `is over maxChannels (${max})`));
    carried = channels.join();
    return carried && base + channels.map((c) => 'channel=' + encodeURIComponent(c)).join('&');
  };

  function stop(state: State): void {
    current = undefined;
    polls.forEach((p) => p.abort());
    stream?.close();
    live?.close();
    stream = live = undefined;
    clearTimeout(retry);
    watch(0);
    set(state);
  }

  // The stream said nothing in time: it is buffered, or hangs.
  function hang(): void {
    host.log('stream silent');
    stop('disconnected');
    if (cfg.transportMode == 'stream') return later(open);
    polling = true;
    poll();
  }

  function open(): void {
    const to = url();
    clearTimeout(retry);
    if (!to || !ES) {
      stop(to ? 'failed' : 'idle');
      return void (to && host.emit('error', new Error('fanout: no EventSource')));
    }
    // A stream that never became ready is not serving anyone: replace it.
    if (stream != live) stream?.close();
    const es = (stream = new ES(to, { withCredentials: true }));
    // Anything heard proves the stream is not buffered; from then on silence
    // is a hang only if the server promised keep-alive events.
    const heard = (): false | void => es == stream && watch(cfg.keepAlive! * 1.5);
    const on = (type: string, fn: (data: any) => void): void =>
      es.addEventListener(type, (event) => {
        heard();
        fn(JSON.parse((event as MessageEvent).data || '{}'));
      });
    set(now == 'connected' ? now : 'connecting');
    watch(cfg.connectTimeout);
    on('ready', (answer: Answer) => {
      refuse(answer);
      // The new stream is up: the old one can go.
      if (live != es) live?.close();
      live = es;
      if (answer.channels?.length) {
        attempt = 0;
        set('connected');
      } else {
        // Every channel denied: the server ends the stream; don't let it come back.
        es.close();
        if (es == stream) stop('failed');
      }
    });
    on('message', (hint) => host.deliver(hint.channel, hint.data));
    on('keep-alive', heard);
    es.onopen = () => es == stream && watch(cfg.connectTimeout);
    es.onerror = () => {
      // An old stream failing while a new one opens is simply not needed.
      if (es != stream) return es.close();
      watch(0);
      set('disconnected');
      if (es.readyState == 2) {
        // Closed for good (not a 200 event stream): reopen it ourselves.
        stream = undefined;
        later(open);
      }
    };
  }

  function poll(): void {
    const to = url();
    clearTimeout(retry);
    if (!to) return stop('idle');
    const ctrl = (current = new AbortController());
    sent = Date.now();
    polls.add(ctrl);
    const timers = [
      // Held 2 s: the server has it, and the polls before it can go.
      setTimeout(() => {
        if (ctrl != current) return;
        polls.forEach((p) => p != ctrl && p.abort());
        attempt = 0;
        set('connected');
      }, HELD),
      // Renew before the server's timeout, so one poll is always held.
      setTimeout(() => ctrl == current && poll(), Math.max(HELD, cfg.longPollTimeout * 0.75)),
      // Bounded: a poll that is never answered is given up.
      setTimeout(() => ctrl.abort(), cfg.longPollTimeout + 10000),
    ];
    // Aborting a poll (answered, superseded or given up) ends its timers.
    ctrl.signal.onabort = () => {
      timers.forEach(clearTimeout);
      polls.delete(ctrl);
    };
    if (now != 'connected') set('connecting');
    fetch(to + '&mode=poll', { credentials: 'include', cache: 'no-store', signal: ctrl.signal })
      .then((response) => (response.status == 200 ? response.json() : Promise.reject()))
      .then((answer: Answer) => {
        const mine = ctrl == current;
        ctrl.abort();
        refuse(answer);
        answer.hints?.forEach((hint) => host.deliver(hint.channel, hint.data));
        if (mine) {
          if (answer.retry != null) {
            // The server is unavailable for now (its authorizer failed).
            set('disconnected');
            return later(poll, answer.retry);
          }
          if (answer.channels && !answer.channels.length) return stop('failed');
          attempt = 0;
          set('connected');
          poll();
        }
        // Answered with hints, or timed out before we renewed: something may
        // have been published while no poll was held.
        if (answer.hints?.length || (mine && !answer.denied?.length)) {
          clearTimeout(resync);
          resync = setTimeout(host.resync, sent + HELD - Date.now());
        }
      })
      .catch(() => {
        if (ctrl == current) {
          ctrl.abort();
          set('disconnected');
          later(poll);
        }
      });
  }

  return {
    update() {
      debounce ||= setTimeout(() => {
        debounce = 0;
        const before = carried;
        url();
        // Unchanged (a channel left and came back, or another tab's union is the same): nothing to do.
        if (carried != before || !(stream || current)) (polling ? poll : open)();
      }, DEBOUNCE);
    },
  };
};
