/**
 * Flask-Fanout's browser client as an ES module: the API of the default
 * client (`window.Fanout`) as named exports plus the object itself as the
 * default export, and `createClient` for independent clients.
 */
import Fanout from './default';
import type { State } from './events';

export type { Config } from './config';
export type { State };
export { createClient } from './client';

export const { version, configure, subscribe, poll, on } = Fanout;
// Live bindings, kept in step with the client (it emits '_' on every change).
export let state: State = Fanout.state;
export let transport: string | null = Fanout.transport;
export let debug: boolean = Fanout.debug;
Fanout.on('_', () => ({ state, transport, debug } = Fanout));

export default Fanout;
