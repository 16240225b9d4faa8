// Entry point of the IIFE build: the page's `window.Fanout`.
import Fanout from './index';

(globalThis as unknown as { Fanout: typeof Fanout }).Fanout = Fanout;
