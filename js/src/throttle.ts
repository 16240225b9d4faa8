/**
 * Per-subscription throttle with a leading and a trailing call.
 *
 * A plain lock ("ignore calls for 500 ms after one") would drop whatever
 * arrived inside the window, so the final update of a burst could be lost and
 * the page stay stale. Here the first call goes through at once, calls inside the window only replace the
 * pending arguments, and the window's end delivers the latest of them. A burst
 * therefore costs at most one call per window, and its last data always lands.
 */
export interface Throttled<A extends unknown[]> {
  (...args: A): void;
  /** Drops any pending trailing call; used by unsubscribe. */
  cancel(): void;
}

export function throttle<A extends unknown[]>(fn: (...args: A) => void, ms: number): Throttled<A> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: A | undefined;
  const fire = (): void => {
    timer = undefined;
    if (pending) {
      const args = pending;
      pending = undefined;
      // Re-arm before calling out, so a callback that throws cannot wedge the window.
      timer = setTimeout(fire, ms);
      fn(...args);
    }
  };
  const throttled = ((...args: A): void => {
    pending = args;
    if (!timer) fire();
  }) as Throttled<A>;
  throttled.cancel = (): void => {
    clearTimeout(timer);
    timer = pending = undefined;
  };
  return throttled;
}
