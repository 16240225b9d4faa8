/**
 * Event listeners of one client, and the one way page code is called.
 *
 * Nothing here is module state: each client makes its own emitter, so two
 * clients on a page (or two test cases) never hear each other.
 */
export type State = 'idle' | 'loading' | 'connecting' | 'connected' | 'disconnected' | 'failed';

// Listeners take whatever their event carries; the public .d.ts types each event.
export type Listener = (...args: any[]) => void;

export interface Emitter {
  on(event: string, fn: Listener): () => void;
  emit(event: string, ...args: unknown[]): void;
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

export function emitter(): Emitter {
  const listeners: Record<string, Set<Listener>> = {};
  return {
    on(event, fn) {
      const set = (listeners[event] ||= new Set());
      // A fresh wrapper per call, so registering one function twice needs two offs.
      const entry: Listener = (...args) => fn(...args);
      set.add(entry);
      return () => {
        set.delete(entry);
      };
    },
    // The poller is a `state` listener too, and `connected` is emitted after
    // `state`: one throwing page listener must not stop either.
    emit: (event, ...args) => listeners[event]?.forEach((fn) => call(fn, ...args)),
  };
}
