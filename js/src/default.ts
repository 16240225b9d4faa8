/**
 * The default client, `window.Fanout`.
 *
 * It is kept in one well-known global slot, so the classic script and any
 * number of imports of the ES module on one page share one client, and so one
 * connection. The instance that creates it also watches the document for
 * `data-fanout-subscribe` elements.
 */
import { createClient, type Client } from './client';
import { declare } from './dom';

const SLOT = Symbol.for('flask-fanout');
const G = globalThis as unknown as { [SLOT]?: Client };

export default (G[SLOT] ||= declare(createClient()));
