// Entry point of the IIFE builds: the page's `window.Fanout`.
import Fanout from './default';

(globalThis as unknown as { Fanout: typeof Fanout }).Fanout = Fanout;
