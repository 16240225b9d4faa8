/**
 * Configuration: rendered by `{{ fanout.script() }}` as a JSON script element,
 * overridable with `configure()`.
 *
 * The element is read when a value is first needed rather than when this module
 * runs, so the module can sit anywhere in the page (or be imported as ESM before
 * the element is parsed) and still see it. An inline `<script>` setting globals
 * would need `unsafe-inline` or a second nonce; a JSON element needs neither.
 */
import { emit } from './events';

export interface FayeSubscription {
  cancel(): void;
  callback?(fn: () => void): void;
  errback?(fn: (error: unknown) => void): void;
}

export interface FayeMessage {
  channel: string;
  advice?: { timeout?: number };
  [key: string]: unknown;
}

export interface FayeClient {
  subscribe(channel: string, callback: (data: unknown) => void): FayeSubscription;
  on(event: string, fn: () => void): void;
  disable?(feature: string): void;
  addExtension(extension: object): void;
  disconnect?(): void;
  // Private in Faye, but stable across 1.x and Fanout's fork; read defensively.
  _dispatcher?: FayeDispatcher;
}

export interface FayeEnvelope {
  message: FayeMessage;
  request?: unknown;
  timer?: ReturnType<typeof setTimeout> | null;
}

export interface FayeDispatcher {
  connectionType?: string;
  selectTransport?(types: string[]): void;
  _envelopes?: Map<string, FayeEnvelope>;
  _sendEnvelope?(envelope: FayeEnvelope): void;
  handleError?(message: FayeMessage, immediate?: boolean): void;
}

export interface FayeNamespace {
  Client: new (url: string, options?: object) => unknown;
  VERSION?: string;
}

export interface Config {
  bayeuxUrl: string;
  fayeUrl: string | null;
  fayeIntegrity: string | null;
  transportMode: 'fallback' | 'upgrade';
  throttle: number;
  pollInterval: number;
  pollConnectedInterval: number;
  channelPrefix: string;
  nonce: string | null;
  lazy: boolean;
  connectTimeout: number;
  fallbackDelay: number;
  Faye: FayeNamespace | null;
}

const defaults: Config = {
  bayeuxUrl: '/bayeux',
  fayeUrl: null,
  fayeIntegrity: null,
  transportMode: 'fallback',
  throttle: 500,
  pollInterval: 5,
  pollConnectedInterval: 300,
  channelPrefix: '',
  nonce: null,
  lazy: true,
  connectTimeout: 10000,
  fallbackDelay: 2000,
  Faye: null,
};

let overrides: Partial<Config> = {};
let rendered: Partial<Config> | undefined;

export function configure(options: Partial<Config>): void {
  for (const key in options) {
    const value = options[key as keyof Config];
    // Passing `undefined` means "no override", not "unset the default".
    if (value !== undefined) (overrides as Record<string, unknown>)[key] = value;
  }
}

export function config(): Config {
  if (!rendered && typeof document != 'undefined') {
    const el = document.getElementById('flask-fanout-config');
    if (el) {
      try {
        rendered = JSON.parse(el.textContent || '{}');
      } catch (error) {
        rendered = {};
        emit('error', error);
      }
    }
  }
  return { ...defaults, ...rendered, ...overrides };
}
