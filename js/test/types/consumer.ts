// A page's code, compiled with `tsc --strict --noEmit` against the shipped
// flask-fanout.d.ts (types.test.mjs), and against the npm package as
// installed (pack.test.mjs, with the import rewritten). @ts-expect-error
// lines must fail.
import Fanout, {
  configure,
  createClient,
  subscribe,
  poll,
  on,
  state,
  transport,
  type State,
  type Config,
  type ChannelError,
  type HintDetail,
} from './flask-fanout';

// Every duration is in milliseconds.
configure({ throttle: 1000, pollInterval: 10000, pollConnectedInterval: 600000, channelPrefix: 'staging_' });
const partial: Partial<Config> = { transportMode: 'upgrade' };
configure(partial);
configure({ backend: 'grip', streamUrl: '/_fanout/events', transportMode: 'poll', keepAlive: 20000, maxChannels: 16 });

const stop: () => void = subscribe('comments-42', (data: unknown, channel: string) => {
  console.log(channel, data);
});
stop();
subscribe('events', () => {}, { throttle: 0 });

const stopPolling = poll(() => void fetch('/comments'), { interval: 5000, connectedInterval: 300000 });
stopPolling();

const off = on('state', (now: State, before: State) => console.log(before, '->', now));
off();
on('connected', (name: string | null) => console.log(name));
on('error', (error: unknown) => console.warn((error as ChannelError).channel));
on('disconnected', () => {});

const s: State = state;
const t: string | null = transport;
console.log(s, t, Fanout.version);

Fanout.debug = true;
Fanout.subscribe('x', () => {});
window.Fanout.poll(() => {});
const current: State = window.Fanout.state;
console.log(current);

const own = createClient({ backend: 'grip' });
own.subscribe('scores', () => {});
const ownState: State = own.state;
console.log(ownState);

// The DOM event every hint becomes, on <body>.
document.body.addEventListener('fanout:hint', (event) => {
  const detail: HintDetail = event.detail;
  console.log(detail.channel, detail.data);
});

// @ts-expect-error: unknown event name
on('message', () => {});
// @ts-expect-error: state is read-only
Fanout.state = 'connected';
// @ts-expect-error: throttle is a number of milliseconds
subscribe('x', () => {}, { throttle: '500' });
// @ts-expect-error: transportMode is 'fallback', 'upgrade', 'stream' or 'poll'
configure({ transportMode: 'websocket' });
// @ts-expect-error: subscribe needs a callback
subscribe('x');
// @ts-expect-error: poll intervals are numbers (ms)
poll(() => {}, { interval: '5s' });
