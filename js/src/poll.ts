/**
 * The interval-polling safety net.
 *
 * Realtime messages are hints; a page that only listened would miss whatever
 * happened while Faye was loading, failed, or reconnecting. So the page's own
 * refresh function keeps running: often while realtime is not up, rarely while
 * it is, once at once when the transport returns after an outage, and never on
 * a hidden page (a background tab polling every 5 s is wasted server load).
 */
import { on, emit, state } from './events';

let watching = false;

function hidden(): boolean {
  return typeof document != 'undefined' && document.hidden;
}

export function startPoller(fn: () => void, interval: number, connectedInterval: number): () => void {
  if (!watching && typeof document != 'undefined') {
    watching = true;
    document.addEventListener('visibilitychange', () => emit('visibility'));
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  // The next poll is due one period after the last one (or after the start),
  // whatever happens in between: re-arming on a state change only switches the
  // period, so a flapping transport can never postpone polling indefinitely.
  let last = Date.now();
  const arm = (): void => {
    clearTimeout(timer);
    if (!stopped && !hidden()) {
      const period = 1000 * (state === 'connected' ? connectedInterval : interval);
      timer = setTimeout(run, Math.max(0, last + period - Date.now()));
    }
  };
  const run = (): void => {
    last = Date.now();
    // Re-arm first: a refresh function that throws must not end the polling.
    arm();
    if (!stopped) fn();
  };
  // Realtime was down (an outage, or a failed load that a later subscribe
  // retried): hints sent meanwhile are lost, so the return refreshes at once.
  let down = false;
  const offs = [
    on('state', (next: string) => {
      if (next === 'connected' && down) {
        down = false;
        run();
      } else {
        down ||= next === 'disconnected' || next === 'failed';
        arm();
      }
    }),
    on('visibility', () => (hidden() ? arm() : run())),
  ];
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
    offs.forEach((off) => off());
  };
}
