/**
 * The transports a build carries, by `backend` setting. Each browser build
 * defines __BACKEND__ as the one backend it serves, so the other transport is
 * left out of it entirely; the npm package's main entry carries both.
 */
import type { TransportFactory } from '../transport';
import { eventSource } from './eventsource';
import { faye } from './faye';

declare const __BACKEND__: string;

export const transports: Record<string, TransportFactory> = {};
if (__BACKEND__ != 'grip') transports.bayeux = faye();
if (__BACKEND__ != 'bayeux') transports.grip = eventSource;
