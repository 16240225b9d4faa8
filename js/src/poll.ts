/**
 * The interval-polling safety net.
 *
 * Realtime messages are hints; a page that only listened would miss whatever
 * happened while the transport was loading, failed, or reconnecting. So the
 * page's own refresh function keeps running: often while realtime is not up,
 * rarely while it is, once at once when the transport returns after an outage,
 * and never on a hidden page (a background tab polling every 5 s is wasted
 * server load). All periods are milliseconds.
 */
import { doc } from './env';
import type { Listener, State } from './events';

/** What a poller needs of its client: the current state and its changes. */
export interface Watched {
  readonly state: State;
  on(event: 'state', fn: Listener): () => void;
}

const hidden = (): boolean | undefined => doc?.hidden;

export function startPoller(fn: () => void, interval: number, connectedInterval: number, client: Watched): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  // The next poll is due one period after the last one (or after the start),
  // whatever happens in between: re-arming on a state change only switches the
  // period, so a flapping transport can never postpone polling indefinitely.
  let last = Date.now();
  const arm = (): void => {
    clearTimeout(timer);
    if (!stopped && !hidden()) {
      const period = client.state == 'connected' ? connectedInterval : interval;
      timer = setTimeout(run, Math.max(0, last + period - Date.now()));
    }
  };
  const run = (): void => {
    last = Date.now();
    // Re-arm first: a refresh function that throws must not end the polling.
    arm();
    if (!stopped) fn();
  };
  const shown = (): void => (hidden() ? arm() : run());
  // Realtime was down (an outage, or a failed load that a later subscribe
  // retried): hints sent meanwhile are lost, so the return refreshes at once.
  let down = false;
  const off = client.on('state', (next: State) => {
    if (next == 'connected' && down) {
      down = false;
      run();
    } else {
      down ||= next == 'disconnected' || next == 'failed';
      arm();
    }
  });
  doc?.addEventListener('visibilitychange', shown);
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
    off();
    doc?.removeEventListener('visibilitychange', shown);
  };
}
