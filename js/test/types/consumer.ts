// A page's code, compiled with `tsc --strict --noEmit` against the shipped
// flask-fanout.d.ts (see types.test.mjs). @ts-expect-error lines must fail.
import Fanout, { configure, subscribe, poll, on, state, transport, type State, type Config } from './flask-fanout';

configure({ throttle: 1000, pollInterval: 10, channelPrefix: 'staging_' });
const partial: Partial<Config> = { transportMode: 'upgrade' };
configure(partial);

const stop: () => void = subscribe('comments-42', (data: unknown, channel: string) => {
  console.log(channel, data);
});
stop();
subscribe('events', () => {}, { throttle: 0 });

const stopPolling = poll(() => void fetch('/comments'), { interval: 5, connectedInterval: 300 });
stopPolling();

const off = on('state', (now: State, before: State) => console.log(before, '->', now));
off();
on('connected', (name: string | null) => console.log(name));
on('error', (error: unknown) => console.warn(error));
on('disconnected', () => {});

const s: State = state;
const t: string | null = transport;
console.log(s, t, Fanout.version);

Fanout.debug = true;
Fanout.subscribe('x', () => {});
window.Fanout.poll(() => {});
const current: State = window.Fanout.state;
console.log(current);

// @ts-expect-error: unknown event name
on('message', () => {});
// @ts-expect-error: state is read-only
Fanout.state = 'connected';
// @ts-expect-error: throttle is a number of milliseconds
subscribe('x', () => {}, { throttle: '500' });
// @ts-expect-error: transportMode is 'fallback' or 'upgrade'
configure({ transportMode: 'websocket' });
// @ts-expect-error: subscribe needs a callback
subscribe('x');
