//! The Lua scripts behind the store's calls. Each touches the keys of one
//! entry (its value, lease or fence, which share the `{key}` hash tag), so
//! it runs on a single node of a cluster as well, and runs atomically: a
//! message is published in the same step as the write it announces, a read
//! sees an entry and its time to live together, and a write checks the
//! key's fence in the same step as it writes.

use ::redis::Script;

/// Reads an entry, the milliseconds its key has left and the server's time
/// in unix µs: `{value, pttl, now}` (`{nil, -2, now}` on a miss).
const GET: &str = "\
local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) \
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), now}";

/// Writes an entry for `ARGV[2]` ms (or deletes it when that is 0) and
/// publishes `ARGV[4]` on the channel `ARGV[3]`: 1. When `ARGV[5]` (the
/// server time a load began, unix µs) is not empty and the fence `KEYS[2]`
/// is at least that, touches nothing: 0.
const PUT: &str = "\
if ARGV[5] ~= '' then \
local f = redis.call('GET', KEYS[2]) \
if f and tonumber(f) >= tonumber(ARGV[5]) then return 0 end end \
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) \
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end \
redis.call('PUBLISH', ARGV[3], ARGV[4]) \
return 1";

/// Deletes a key, sets its fence `KEYS[2]` to the server time (unix µs)
/// for `ARGV[3]` ms, and publishes `ARGV[2]` on the channel `ARGV[1]`.
const REMOVE: &str = "\
redis.call('DEL', KEYS[1]) \
local t = redis.call('TIME') \
local us = t[1] .. string.format('%06d', tonumber(t[2])) \
redis.call('SET', KEYS[2], us, 'PX', ARGV[3]) \
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
