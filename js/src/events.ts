/**
 * The shared event hub and connection state.
 *
 * One module owns `state` so that the poller, the transport code and pages all
 * read the same value; every change goes through `setState`, which is also the
 * single place that fires `state`, `connected` and `disconnected`.
 */
export type State = 'idle' | 'loading' | 'connecting' | 'connected' | 'disconnected' | 'failed';

// Listeners take whatever their event carries; the public .d.ts types each event.
type Listener = (...args: any[]) => void;

const listeners: Record<string, Set<Listener>> = {};

export let state: State = 'idle';
export let transport: string | null = null;
export let debug = false;

export function setDebug(on: boolean): void {
  debug = !!on;
}

export function log(...args: unknown[]): void {
  if (debug) console.info('[fanout]', ...args);
}

export function on(event: string, fn: Listener): () => void {
  const set = (listeners[event] ||= new Set());
  // A fresh wrapper per call, so registering one function twice needs two offs.
  const entry: Listener = (...args) => fn(...args);
  set.add(entry);
  return () => {
    set.delete(entry);
  };
}

/**
 * Calls a page-supplied function; if it throws, the error is rethrown on its
 * own task (so it still reaches the console and window.onerror) instead of
 * unwinding through us and starving whatever was to be called after it.
 */
export function call(fn: Listener, ...args: unknown[]): void {
  try {
    fn(...args);
  } catch (error) {
    setTimeout(() => {
      throw error;
    });
  }
}

export function emit(event: string, ...args: unknown[]): void {
  // The poller is a `state` listener too, and `connected` is emitted after
  // `state`: one throwing page listener must not stop either.
  listeners[event]?.forEach((fn) => call(fn, ...args));
}

export function setTransport(name: string | null): void {
  if (name !== transport) {
    log('transport', transport, '->', name);
    transport = name;
  }
}

export function setState(next: State): void {
  const prev = state;
  if (next === prev) return;
  state = next;
  log('state', prev, '->', next, transport ? `(${transport})` : '');
  emit('state', next, prev);
  if (next === 'connected') emit('connected', transport);
  if (next === 'disconnected') emit('disconnected');
}
