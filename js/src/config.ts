/**
 * Settings: rendered by `{{ fanout.script() }}` as a JSON script element,
 * overridable with `configure()`. Every duration is in milliseconds.
 *
 * The element is read when a value is first needed rather than when this module
 * runs, so the module can sit anywhere in the page (or be imported as ESM before
 * the element is parsed) and still see it. An inline `<script>` setting globals
 * would need `unsafe-inline` or a second nonce; a JSON element needs neither.
 */
import type { FayeNamespace } from './transports/faye';

export interface Config {
  backend: string;
  transportMode: 'fallback' | 'upgrade' | 'stream' | 'poll';
  throttle: number;
  pollInterval: number;
  pollConnectedInterval: number;
  channelPrefix: string;
  nonce: string | null;
  lazy: boolean;
  connectTimeout: number;
  share: boolean;
  // Bayeux
  bayeuxUrl: string;
  fayeUrl: string | null;
  fayeIntegrity: string | null;
  fallbackDelay: number;
  Faye: FayeNamespace | null;
  // GRIP
  streamUrl: string;
  maxChannels: number;
  keepAlive: number | null;
  longPollTimeout: number;
  EventSource: typeof EventSource | null;
}

// Which transports a build carries: 'bayeux', 'grip', or '' for both.
declare const __BACKEND__: string;

// Keys whose default is null, false or 0 are left out: absent reads the same.
// (`lazy` is informational: the server says whether it rendered Faye eagerly.)
export const defaults = {
  backend: __BACKEND__ || 'bayeux',
  transportMode: 'fallback',
  throttle: 500,
  pollInterval: 5000,
  pollConnectedInterval: 300000,
  channelPrefix: '',
  connectTimeout: 10000,
  share: true,
  // Each build carries the defaults of its own transport only.
  ...(__BACKEND__ != 'grip' && { bayeuxUrl: '/bayeux', fallbackDelay: 2000 }),
  ...(__BACKEND__ != 'bayeux' && { streamUrl: '/_fanout/events', longPollTimeout: 55000 }),
} as Config;

export const ELEMENT_ID = 'flask-fanout-config';
