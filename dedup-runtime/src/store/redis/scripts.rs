//! The Lua scripts: complete and release, owner-checked on the server in one round trip, and a
//! claim for servers older than Redis 7.0 (which refuse `SET ... NX GET`).
//!
//! Each touches one key. They run by `EVALSHA`; a server that does not know the script yet
//! answers `NOSCRIPT`, and the call is repeated once as `EVAL` (which also caches it there), so a
//! restarted server or a new cluster node needs no `SCRIPT LOAD` step.

use redis::{Cmd, ErrorKind, RedisError, ServerErrorKind, ToRedisArgs};

/// `KEYS[1]` the record; `ARGV[1]` the owner's 18-byte in-progress prefix; `ARGV[2]` the ttl in
/// milliseconds; `ARGV[3]` the two-byte completed header; `ARGV[4]` the result.
///
/// Returns 1 when completed (the record was ours, even past its lease, or absent), 0 when another
/// owner holds it or it is completed already, -1 when the record is not in a format this version
/// writes.
pub(super) const COMPLETE: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[3] .. string.sub(ARGV[1], 3) .. '\0' .. ARGV[4], 'PX', ARGV[2])
  return 1
end
if string.sub(cur, 1, 18) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[3] .. string.sub(cur, 3) .. ARGV[4], 'PX', ARGV[2])
  return 1
end
if string.byte(cur, 1) ~= string.byte(ARGV[1], 1) then
  return -1
end
return 0
";

/// `KEYS[1]` the record; `ARGV[1]` the owner's 18-byte in-progress prefix.
///
/// Returns 1 when the record was ours and is deleted, 0 otherwise.
pub(super) const RELEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 18) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// `KEYS[1]` the record; `ARGV[1]` the in-progress record; `ARGV[2]` the lease in milliseconds.
///
/// The same reply as `SET key value NX PX lease GET`: nil when claimed, else the record found.
pub(super) const CLAIM: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// A script and its SHA-1, computed once.
#[derive(Debug)]
pub(super) struct Lua {
    source: &'static str,
    sha: String,
}

impl Lua {
    pub(super) fn new(source: &'static str) -> Self {
        Lua {
            source,
            sha: redis::Script::new(source).get_hash().to_owned(),
        }
    }

    /// `EVALSHA sha 1 key args...`.
    pub(super) fn evalsha(&self, key: impl ToRedisArgs, args: &[&[u8]]) -> Cmd {
        self.call("EVALSHA", &self.sha, key, args)
    }

    /// `EVAL source 1 key args...`, after a `NOSCRIPT`.
    pub(super) fn eval(&self, key: impl ToRedisArgs, args: &[&[u8]]) -> Cmd {
        self.call("EVAL", self.source, key, args)
    }

    fn call(&self, command: &str, script: &str, key: impl ToRedisArgs, args: &[&[u8]]) -> Cmd {
        // An estimate of the key: the buffer grows if it is longer.
        let data =
            command.len() + script.len() + 1 + 128 + args.iter().map(|a| a.len()).sum::<usize>();
        let mut cmd = Cmd::with_capacity(4 + args.len(), data);
        cmd.arg(command).arg(script).arg(1).arg(key);
        for arg in args {
            cmd.arg(*arg);
        }
        cmd
    }
}

/// The server does not have the script (restarted, flushed, or a new node).
pub(super) fn is_noscript(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// A server older than 7.0 refusing `SET ... NX ... GET`.
pub(super) fn is_syntax_error(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
        && err
            .detail()
            .is_some_and(|detail| detail.contains("syntax error"))
}
