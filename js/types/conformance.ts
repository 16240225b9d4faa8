// Compile-time check that the implementation matches the hand-written
// declarations shipped as flask-fanout.d.ts (run by `npm run typecheck`).
import * as impl from '../src/index';
import type * as decl from './flask-fanout';

// Everything the declarations promise, the implementation provides...
export const namedExports: Omit<typeof decl, 'default'> = impl;
export const defaultExport: decl.FanoutApi = impl.default;
// ...and it exports nothing the declarations leave out.
type Undeclared = Exclude<keyof typeof impl, keyof typeof decl>;
export const noUndeclared: [Undeclared] extends [never] ? true : Undeclared = true;
