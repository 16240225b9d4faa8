/**
 * The channel rule, as the server defines it (flask_fanout._channels): 1 to
 * 128 characters from A-Z a-z 0-9 - _ ! ~ ( ) $ @, and not a name Bayeux
 * reserves. `\w` is [A-Za-z0-9_] here: no `u` flag, so no other letters.
 * test/channels.test.mjs checks this against the server's own table of cases.
 */
export function checkChannel(name: unknown): void {
  if (typeof name != 'string' || !/^[\w\-!~()$@]{1,128}$/.test(name) || /^(meta|service)$/.test(name)) {
    throw new TypeError(`fanout: bad channel name ${JSON.stringify(name)}`);
  }
}
