//! The Lua scripts behind the store's calls. Each touches one key
//! (`KEYS[1]`), so it runs on a single node of a cluster as well, and runs
//! atomically: a message is published in the same step as the write it
//! announces, and a read sees an entry and its time to live together.

use ::redis::Script;

/// Reads an entry and the milliseconds its key has left: `{value, pttl}`.
const GET: &str = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";

/// Writes an entry for `ARGV[2]` ms (or deletes it when that is 0) and
/// publishes `ARGV[4]` on the channel `ARGV[3]`.
const PUT: &str = "\
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) \
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end \
redis.call('PUBLISH', ARGV[3], ARGV[4]) \
return 1";

/// Deletes a key and publishes `ARGV[2]` on the channel `ARGV[1]`.
const REMOVE: &str = "\
redis.call('DEL', KEYS[1]) \
redis.call('PUBLISH', ARGV[1], ARGV[2]) \
return 1";

/// Deletes a lease only while it still holds the caller's token `ARGV[1]`,
/// and then publishes `ARGV[3]` on the channel `ARGV[2]`, so instances
/// waiting for the lease try to take it at once.
const RELEASE_LEASE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1 \
else return 0 end";

/// The scripts, hashed once per store (they run as `EVALSHA`, loaded on
/// first use on each node).
pub(super) struct Scripts {
    pub(super) get: Script,
    pub(super) put: Script,
    pub(super) remove: Script,
    pub(super) release_lease: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            get: Script::new(GET),
            put: Script::new(PUT),
            remove: Script::new(REMOVE),
            release_lease: Script::new(RELEASE_LEASE),
        }
    }
}
