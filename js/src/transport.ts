/**
 * The seam between a client and a transport (types only).
 *
 * A client owns the registry of channels and callbacks, the throttle, the
 * state and the events; a transport owns a connection. The transport pulls the
 * set of channels it must carry (`list`) whenever it is told that set changed
 * (`update`), and reports back through the host: hints, its state, channels
 * the server refused, and "refetch everything" when it cannot rule out a gap.
 * share.ts wraps a transport behind the same interface, so one tab can carry
 * the channels of all.
 */
import type { Config } from './config';
import type { State } from './events';

export interface Host {
  /** The settings as of now (a transport may keep what it read at its start). */
  cfg: Config;
  /** Logical channel names to carry (registered, not refused). */
  list(): string[];
  /** A hint arrived on a logical channel. */
  deliver(channel: string, data: unknown): void;
  /** The connection state changed; `name` (when given) is the transport in use. */
  setState(state: State, name?: string | null): void;
  /** The server will not carry `channel`; `why` ends the error message. Reported once. */
  refuse(channel: string, why: string): void;
  /** Hints may have been missed: every channel's callbacks get `null` once, through the throttle. */
  resync(): void;
  emit(event: string, ...args: unknown[]): void;
  log(...args: unknown[]): void;
}

export interface Transport {
  /** The set of channels changed (or the first channel arrived): carry `host.list()`. */
  update(): void;
}

export type TransportFactory = (host: Host) => Transport;
