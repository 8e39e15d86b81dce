//! [`RedisStore`]: records in Redis (feature `redis`), on a standalone server or a Redis Cluster.
//!
//! # One round trip per step
//!
//! | step | command | round trips |
//! |---|---|---|
//! | claim | `SET key record NX PX lease GET`: claims, or returns the record in the way | 1 |
//! | complete | Lua script (`EVALSHA`): owner-checked, keeps the claim's audit fields | 1 |
//! | release | Lua script (`EVALSHA`): deletes only the owner's in-progress record | 1 |
//! | [`claim_many`](RedisStore::claim_many) | N claims in one pipeline | 1 |
//!
//! All expiry is Redis's own (`PX`): consumers' clocks never matter. A server older than Redis 7.0
//! refuses `NX` with `GET`; the store then claims with an equivalent script (see
//! [`RedisStoreBuilder::claim_by_script`]).
//!
//! # Keys
//!
//! A record lives at `<prefix>:<scope>:<fingerprint as 64 hex>`, everything in that one key (so in
//! one slot of a cluster). Scopes are consumer names; one that is longer than 128 bytes or has a
//! character outside `A-Z a-z 0-9 . _ - / : @` (such as the braces of a cluster hash tag) is
//! replaced by `#` and the first 32 hex characters of its SHA-256. Nothing from a message's
//! content reaches a key except through its fingerprint.
//!
//! # Connections
//!
//! Async operations share one multiplexed connection per server that reconnects by itself
//! (`ConnectionManager`; for a cluster, the async cluster connection). The blocking API keeps a
//! small pool of synchronous connections, opened when first needed. A lost server makes
//! operations fail with [`Error::Store`] within the configured time limits; once it is back they
//! succeed again on the same store.

mod blocking;
mod builder;
mod record;
mod scripts;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisResult, RedisWrite, ToRedisArgs, Value};

use self::blocking::Pool;
pub use self::builder::RedisStoreBuilder;
use self::scripts::Lua;
use super::{BlockingStore, ClaimOutcome, ClaimRequest, Key, OwnerToken, Record, Store};
use crate::Error;

const NAME: &str = "redis";

/// Failures of the store itself, as the `source` of an [`Error::Store`].
#[derive(Debug, thiserror::Error)]
enum BackendError {
    #[error("unexpected reply to {command}: {reply:?}")]
    UnexpectedReply { command: &'static str, reply: Value },
    #[error(
        "this RedisStore was built from a connection and has no client to open blocking connections with; \
         build it with `RedisStoreBuilder::new`, `from_client` or `from_cluster_client` to serve synchronous handlers"
    )]
    NoBlockingClient,
}

fn unexpected(command: &'static str, reply: Value) -> Error {
    Error::store(NAME, BackendError::UnexpectedReply { command, reply })
}

/// The longest expiry handed to Redis: 100 years (Redis rejects expiries that overflow its clock).
const MAX_EXPIRY_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// `PX` milliseconds: at least 1 (Redis rejects 0), at most [`MAX_EXPIRY_MS`].
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_EXPIRY_MS)
}

/// A deduplication store in Redis, standalone or cluster. A cheap handle: clones share the
/// connections.
///
/// ```no_run
/// # async fn run() -> Result<(), dedup_runtime::Error> {
/// use dedup_runtime::idempotency::{Delivery, Idempotency};
/// use dedup_runtime::store::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let charges = Idempotency::new(store, "billing.charge");
/// let order_id = 42_u64;
/// let outcome = charges
///     .execute(Delivery::of(&order_id)?, async { Ok::<_, dedup_runtime::Error>(order_id * 100) })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    conn: AsyncConn,
    pool: Pool,
    claim_by_script: AtomicBool,
    complete: Lua,
    release: Lua,
    claim: Lua,
}

#[derive(Clone)]
enum AsyncConn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl AsyncConn {
    async fn query(&self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            AsyncConn::Standalone(conn) => cmd.query_async(&mut conn.clone()).await,
            AsyncConn::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
        }
    }

    /// Runs `pipe`; item errors come back as `Value::ServerError` items (`ignore_errors`).
    async fn pipeline(&self, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
        match self {
            AsyncConn::Standalone(conn) => pipe.query_async(&mut conn.clone()).await,
            AsyncConn::Cluster(conn) => pipe.query_async(&mut conn.clone()).await,
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.inner.conn {
            AsyncConn::Standalone(_) => "standalone",
            AsyncConn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("prefix", &self.inner.prefix)
            .field("blocking_pool", &self.inner.pool)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The key prefix when none is given.
    pub const DEFAULT_PREFIX: &'static str = "dedup";

    /// Connects to the standalone server at `url` with the default options.
    ///
    /// `redis://[user:password@]host[:port][/db]`; `rediss://` for TLS, with the `redis-tls`
    /// feature (see [`RedisStoreBuilder`] on certificates).
    pub async fn connect(url: &str) -> Result<RedisStore, Error> {
        RedisStoreBuilder::new(url).build().await
    }

    /// Connects to the Redis Cluster reached through any of `nodes` with the default options.
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<RedisStore, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder::cluster(nodes).build().await
    }

    /// Options for a standalone server at `url`: prefix, time limits...
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }

    /// Options for a Redis Cluster reached through any of `nodes`.
    pub fn cluster_builder<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder::cluster(nodes)
    }

    fn assemble(prefix: String, conn: AsyncConn, pool: Pool, claim_by_script: bool) -> Self {
        RedisStore {
            inner: Arc::new(Inner {
                prefix,
                conn,
                pool,
                claim_by_script: AtomicBool::new(claim_by_script),
                complete: Lua::new(scripts::COMPLETE),
                release: Lua::new(scripts::RELEASE),
                claim: Lua::new(scripts::CLAIM),
            }),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `true` when connected to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.conn, AsyncConn::Cluster(_))
    }

    /// The Redis key of `key`'s record: `<prefix>:<scope>:<fingerprint hex>` (see the module docs
    /// on scopes). For operators and tests; the store never needs it from you.
    pub fn redis_key(&self, key: Key<'_>) -> String {
        self.key_arg(key).to_string()
    }

    fn key_arg<'a>(&'a self, key: Key<'a>) -> KeyArg<'a> {
        KeyArg {
            prefix: &self.inner.prefix,
            key,
        }
    }

    fn scripted_claims(&self) -> bool {
        self.inner.claim_by_script.load(Ordering::Relaxed)
    }

    /// The command that claims `redis_key` for `request` in `mode`.
    fn claim_cmd(&self, redis_key: KeyArg<'_>, request: &ClaimRequest<'_>, mode: Mode) -> Cmd {
        match mode {
            Mode::NxGet => nx_get_cmd(redis_key, request),
            Mode::EvalSha | Mode::Eval => {
                let record = record::encode_claim(request);
                let px = millis(request.lease).to_string();
                let args: [&[u8]; 2] = [&record, px.as_bytes()];
                if mode == Mode::EvalSha {
                    self.inner.claim.evalsha(redis_key, &args)
                } else {
                    self.inner.claim.eval(redis_key, &args)
                }
            }
        }
    }

    /// The claim script for one key (by `EVALSHA`, repeated by `EVAL` after a `NOSCRIPT`).
    async fn claim_by_script(
        &self,
        redis_key: KeyArg<'_>,
        request: &ClaimRequest<'_>,
    ) -> RedisResult<Value> {
        let record = record::encode_claim(request);
        let px = millis(request.lease).to_string();
        self.script(&self.inner.claim, redis_key, &[&record, px.as_bytes()])
            .await
    }

    /// After a server refused `SET ... NX ... GET`: claim by script from now on.
    fn fall_back_to_script(&self) {
        if !self.inner.claim_by_script.swap(true, Ordering::Relaxed) {
            tracing::info!(
                target: "dedup",
                store = NAME,
                "the Redis server refuses `SET ... NX ... GET` (older than 7.0); claiming with a Lua script"
            );
        }
    }

    /// Runs a script, repeating it as `EVAL` when the server does not know it.
    async fn script<K: ToRedisArgs + Copy>(
        &self,
        lua: &Lua,
        redis_key: K,
        args: &[&[u8]],
    ) -> RedisResult<Value> {
        match self.inner.conn.query(&lua.evalsha(redis_key, args)).await {
            Err(err) if scripts::is_noscript(&err) => {
                self.inner.conn.query(&lua.eval(redis_key, args)).await
            }
            other => other,
        }
    }

    fn script_blocking<K: ToRedisArgs + Copy>(
        &self,
        lua: &Lua,
        redis_key: K,
        args: &[&[u8]],
    ) -> Result<Value, Error> {
        self.inner
            .pool
            .with(|con| match lua.evalsha(redis_key, args).query(con) {
                Err(err) if scripts::is_noscript(&err) => lua.eval(redis_key, args).query(con),
                other => other,
            })
    }

    /// Claims every key of a batch (an SQS receive, a Kafka poll) in one round trip, and returns
    /// one outcome per key, in order.
    ///
    /// Each claim is atomic on its own, exactly as [`Store::claim`]; the batch is not a
    /// transaction. A key that appears twice in a batch is acquired by its first occurrence and
    /// reported [`Existing`](ClaimOutcome::Existing) (in progress) to the second.
    ///
    /// When any claim fails (the connection, a corrupt record), the claims of the batch that were
    /// acquired are released again before the error is returned: an error means nothing is held.
    ///
    /// On a standalone server the batch is one pipeline. In a cluster it is split by hash slot (a
    /// pipeline may not cross slots) and the parts are sent at once on the per-node multiplexed
    /// connections, so the batch still costs about one round trip.
    pub async fn claim_many(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
    ) -> Result<Vec<ClaimOutcome>, Error> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let (keys, mut mode) = self.batch_start(claims);
        let mut replies = self.send_claims(claims, &keys, mode).await?;
        if mode == Mode::NxGet && refused_nx_get(&replies) {
            // Every `SET ... NX GET` of the batch was refused alike: nothing was claimed.
            self.fall_back_to_script();
            mode = Mode::EvalSha;
            replies = self.send_claims(claims, &keys, mode).await?;
        }
        if mode == Mode::EvalSha {
            for i in 0..replies.len() {
                if replies[i].as_ref().is_err_and(scripts::is_noscript) {
                    // This claim did not run: repeat it alone by `EVAL`, which loads the script.
                    let cmd = self.claim_cmd(keys[i], &claims[i].1, Mode::Eval);
                    replies[i] = self.inner.conn.query(&cmd).await;
                }
            }
        }
        let outcomes = interpret_batch(&keys, replies);
        for (key, owner) in acquired_in_failed_batch(claims, &outcomes) {
            if let Err(err) = self.release(key, owner).await {
                warn_unreleased(key, &err);
            }
        }
        outcomes.into_iter().collect()
    }

    /// The Redis keys of a batch, and the mode its claims are first sent in.
    fn batch_start<'a>(
        &'a self,
        claims: &[(Key<'a>, ClaimRequest<'_>)],
    ) -> (Vec<KeyArg<'a>>, Mode) {
        let keys = claims.iter().map(|(key, _)| self.key_arg(*key)).collect();
        let mode = if self.scripted_claims() {
            Mode::EvalSha
        } else {
            Mode::NxGet
        };
        (keys, mode)
    }

    fn claim_cmds(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
        keys: &[KeyArg<'_>],
        mode: Mode,
    ) -> Vec<Cmd> {
        claims
            .iter()
            .zip(keys)
            .map(|((_, request), redis_key)| self.claim_cmd(*redis_key, request, mode))
            .collect()
    }

    /// Sends a batch of claims; one reply per claim, in order.
    async fn send_claims(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
        keys: &[KeyArg<'_>],
        mode: Mode,
    ) -> Result<Vec<RedisResult<Value>>, Error> {
        let cmds = self.claim_cmds(claims, keys, mode);
        let replies = match &self.inner.conn {
            AsyncConn::Standalone(_) => self.inner.conn.pipeline(&batch_pipeline(cmds)).await,
            AsyncConn::Cluster(_) => {
                let groups = group_by_slot(keys);
                let mut cmds: Vec<Option<Cmd>> = cmds.into_iter().map(Some).collect();
                let parts = join_all(groups.iter().map(|indices| {
                    let pipe = batch_pipeline(indices.iter().filter_map(|&i| cmds[i].take()));
                    async move { self.inner.conn.pipeline(&pipe).await }
                }))
                .await;
                let mut replies = vec![Value::Nil; keys.len()];
                let mut failed = None;
                for (indices, part) in groups.iter().zip(parts) {
                    match part {
                        Ok(part) if part.len() == indices.len() => {
                            for (&i, reply) in indices.iter().zip(part) {
                                replies[i] = reply;
                            }
                        }
                        Ok(_) => failed = Some(wrong_count()),
                        Err(err) => failed = Some(err),
                    }
                }
                match failed {
                    // Parts that did go through may hold claims: release them with the error.
                    Some(err) => {
                        self.release_sent(claims, &groups, &replies).await;
                        Err(err)
                    }
                    None => Ok(replies),
                }
            }
        };
        let replies = replies.map_err(|err| Error::store(NAME, err))?;
        if replies.len() != keys.len() {
            return Err(Error::store(NAME, wrong_count()));
        }
        Ok(replies.into_iter().map(item_result).collect())
    }

    /// After a cluster batch failed in part: releases what the other parts acquired.
    async fn release_sent(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
        groups: &[Vec<usize>],
        replies: &[Value],
    ) {
        for indices in groups {
            for &i in indices {
                if matches!(replies[i], Value::Nil) {
                    let (key, request) = &claims[i];
                    // A part that failed left `Nil` too: releasing a claim never made is a no-op.
                    if let Err(err) = self.release(*key, request.owner).await {
                        warn_unreleased(*key, &err);
                    }
                }
            }
        }
    }

    /// [`claim_many`](Self::claim_many) for synchronous code.
    ///
    /// In a cluster the batch goes out as a cluster pipeline, one round trip per node.
    pub fn claim_many_blocking(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
    ) -> Result<Vec<ClaimOutcome>, Error> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let (keys, mut mode) = self.batch_start(claims);
        let outcomes = loop {
            let replies = match self.send_claims_blocking(claims, &keys, mode)? {
                Sent::Replies(replies) => replies,
                Sent::Retry(next) => {
                    mode = next;
                    continue;
                }
            };
            if mode == Mode::NxGet && refused_nx_get(&replies) {
                self.fall_back_to_script();
                mode = Mode::EvalSha;
                continue;
            }
            if mode == Mode::EvalSha
                && replies
                    .iter()
                    .any(|r| r.as_ref().is_err_and(scripts::is_noscript))
            {
                // Claims that went through are answered; those that did not are sent again by `EVAL`.
                mode = Mode::Eval;
                let mut replies = replies;
                for (i, reply) in replies.iter_mut().enumerate() {
                    if reply.as_ref().is_err_and(scripts::is_noscript) {
                        let cmd = self.claim_cmd(keys[i], &claims[i].1, mode);
                        *reply = match self.inner.pool.with(|con| cmd.query::<Value>(con)) {
                            Ok(value) => Ok(value),
                            Err(err) => Err(redis_error_of(err)),
                        };
                    }
                }
                break interpret_batch(&keys, replies);
            }
            break interpret_batch(&keys, replies);
        };
        for (key, owner) in acquired_in_failed_batch(claims, &outcomes) {
            if let Err(err) = self.release_blocking(key, owner) {
                warn_unreleased(key, &err);
            }
        }
        outcomes.into_iter().collect()
    }

    fn send_claims_blocking(
        &self,
        claims: &[(Key<'_>, ClaimRequest<'_>)],
        keys: &[KeyArg<'_>],
        mode: Mode,
    ) -> Result<Sent, Error> {
        let cmds = self.claim_cmds(claims, keys, mode);
        let clustered = if self.inner.pool.is_cluster() {
            let mut pipe = redis::cluster::cluster_pipe();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            self.inner
                .pool
                .with_cluster(|con| pipe.query::<Vec<Value>>(con))?
        } else {
            let pipe = batch_pipeline(cmds);
            Some(Ok(self
                .inner
                .pool
                .with(|con| pipe.query::<Vec<Value>>(con))?))
        };
        let replies = match clustered {
            None => return Err(Error::store(NAME, wrong_count())),
            Some(Ok(replies)) => replies,
            Some(Err(err)) => {
                // A cluster pipeline reports only which commands failed, not what the others
                // answered: give back whatever the batch may hold (release is owner-checked, so
                // this never touches another delivery's claim), then retry or fail.
                let failed: Vec<(usize, redis::ServerError)> =
                    match err.clone().into_server_errors() {
                        Some(items) => items.iter().cloned().collect(),
                        None => Vec::new(),
                    };
                let refused = failed.len() == claims.len()
                    && failed
                        .iter()
                        .all(|(_, e)| scripts::is_syntax_error(&e.clone().into()));
                if mode == Mode::NxGet && refused {
                    self.fall_back_to_script();
                    return Ok(Sent::Retry(Mode::EvalSha));
                }
                for (i, (key, request)) in claims.iter().enumerate() {
                    if !failed.iter().any(|(f, _)| *f == i)
                        && let Err(err) = self.release_blocking(*key, request.owner)
                    {
                        warn_unreleased(*key, &err);
                    }
                }
                let noscript =
                    !failed.is_empty() && failed.iter().all(|(_, e)| e.code() == "NOSCRIPT");
                if mode == Mode::EvalSha && noscript {
                    return Ok(Sent::Retry(Mode::Eval));
                }
                return Err(Error::store(NAME, err));
            }
        };
        if replies.len() != keys.len() {
            return Err(Error::store(NAME, wrong_count()));
        }
        Ok(Sent::Replies(
            replies.into_iter().map(item_result).collect(),
        ))
    }
}

/// How claims are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `SET key record NX PX lease GET` (Redis 7.0 and later).
    NxGet,
    /// The claim script by `EVALSHA`.
    EvalSha,
    /// The claim script by `EVAL`, after a `NOSCRIPT`.
    Eval,
}

enum Sent {
    Replies(Vec<RedisResult<Value>>),
    Retry(Mode),
}

/// The driver's error inside an [`Error::Store`] of this store, to put back into a reply list.
fn redis_error_of(err: Error) -> redis::RedisError {
    match err {
        Error::Store { source, .. } => match source.downcast::<redis::RedisError>() {
            Ok(err) => *err,
            Err(other) => redis::RedisError::from((
                redis::ErrorKind::Client,
                "store error",
                other.to_string(),
            )),
        },
        other => {
            redis::RedisError::from((redis::ErrorKind::Client, "store error", other.to_string()))
        }
    }
}

/// The claims a batch acquired, when another claim of the batch failed: the batch then returns
/// the error, so nobody would complete or release these; the caller releases them at once.
fn acquired_in_failed_batch<'a>(
    claims: &[(Key<'a>, ClaimRequest<'_>)],
    outcomes: &[Result<ClaimOutcome, Error>],
) -> Vec<(Key<'a>, OwnerToken)> {
    if !outcomes.iter().any(Result::is_err) {
        return Vec::new();
    }
    claims
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| matches!(outcome, Ok(ClaimOutcome::Acquired)))
        .map(|((key, request), _)| (*key, request.owner))
        .collect()
}

fn warn_unreleased(key: Key<'_>, err: &Error) {
    tracing::warn!(
        target: "dedup",
        store = NAME,
        scope = key.scope,
        fingerprint = %key.fingerprint,
        error = %err,
        "could not release a claim of a failed batch; it will expire with its lease"
    );
}

fn wrong_count() -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "a pipeline of claims returned the wrong number of replies",
    ))
}

/// One pipeline item: a server error is that item's failure.
fn item_result(reply: Value) -> RedisResult<Value> {
    match reply {
        Value::ServerError(err) => Err(err.into()),
        reply => Ok(reply),
    }
}

/// A server older than 7.0 refused the batch's `SET ... NX ... GET`.
fn refused_nx_get(replies: &[RedisResult<Value>]) -> bool {
    replies
        .iter()
        .any(|reply| reply.as_ref().is_err_and(scripts::is_syntax_error))
}

/// `SET key record NX PX lease GET`, the key and record written straight into the command.
fn nx_get_cmd(redis_key: KeyArg<'_>, request: &ClaimRequest<'_>) -> Cmd {
    let size = redis_key.prefix.len()
        + redis_key.key.scope.len().min(128)
        + 66
        + record::claim_len(request)
        + 24;
    let mut cmd = Cmd::with_capacity(7, size);
    cmd.arg("SET")
        .arg(redis_key)
        .arg(ClaimArg(request))
        .arg("NX")
        .arg("PX")
        .arg(millis(request.lease))
        .arg("GET");
    cmd
}

/// A pipeline of claims whose item errors come back as values.
fn batch_pipeline(cmds: impl IntoIterator<Item = Cmd>) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for cmd in cmds {
        pipe.add_command(cmd);
    }
    pipe
}

/// Indices of `keys` grouped by cluster hash slot, in first-seen order.
fn group_by_slot(keys: &[KeyArg<'_>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(redis::cluster_routing::Slot, Vec<usize>)> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let slot = redis::cluster_routing::Slot::for_key(key.to_string().as_bytes());
        match groups.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, indices)) => indices.push(i),
            None => groups.push((slot, vec![i])),
        }
    }
    groups.into_iter().map(|(_, indices)| indices).collect()
}

fn interpret_batch(
    keys: &[KeyArg<'_>],
    replies: Vec<RedisResult<Value>>,
) -> Vec<Result<ClaimOutcome, Error>> {
    keys.iter()
        .zip(replies)
        .map(|(redis_key, reply)| match reply {
            Ok(reply) => claim_outcome(redis_key, reply),
            Err(err) => Err(Error::store(NAME, err)),
        })
        .collect()
}

/// The reply of `SET ... NX GET` (or the claim script): nil when claimed, else the record.
fn claim_outcome(redis_key: &dyn fmt::Display, reply: Value) -> Result<ClaimOutcome, Error> {
    match reply {
        Value::Nil => Ok(ClaimOutcome::Acquired),
        Value::BulkString(bytes) => record::decode(redis_key, bytes).map(ClaimOutcome::Existing),
        other => Err(unexpected("SET NX GET", other)),
    }
}

fn complete_outcome(key: Key<'_>, redis_key: &dyn fmt::Display, reply: Value) -> Result<(), Error> {
    match reply {
        Value::Int(1) => Ok(()),
        Value::Int(0) => Err(Error::LeaseLost {
            scope: key.scope.to_owned(),
            fingerprint: key.fingerprint,
        }),
        Value::Int(-1) => Err(Error::corrupt(
            NAME,
            redis_key.to_string(),
            "the record is not in a format this version writes; it was not completed",
        )),
        other => Err(unexpected("the complete script", other)),
    }
}

fn release_outcome(reply: Value) -> Result<bool, Error> {
    match reply {
        Value::Int(n) => Ok(n == 1),
        other => Err(unexpected("the release script", other)),
    }
}

fn get_outcome(redis_key: &dyn fmt::Display, replies: Vec<Value>) -> Result<Option<Record>, Error> {
    let mut replies = replies.into_iter();
    match (replies.next(), replies.next()) {
        (Some(Value::Nil), _) => Ok(None),
        (Some(Value::BulkString(bytes)), pttl) => {
            let mut record = record::decode(redis_key, bytes)?;
            if let Some(Value::Int(ms)) = pttl
                && let Ok(ms) = u64::try_from(ms)
            {
                record.expires_in = Some(Duration::from_millis(ms));
            }
            Ok(Some(record))
        }
        (Some(other), _) => Err(unexpected("GET", other)),
        (None, _) => Err(unexpected("GET", Value::Nil)),
    }
}

fn get_pipeline(redis_key: KeyArg<'_>) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(redis_key).cmd("PTTL").arg(redis_key);
    pipe
}

fn store_cmd(redis_key: KeyArg<'_>, value: &[u8], expire: Duration) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(redis_key)
        .arg(record::encode_completed(value))
        .arg("PX")
        .arg(millis(expire));
    cmd
}

fn exists_outcome(reply: Value) -> Result<bool, Error> {
    match reply {
        Value::Int(n) => Ok(n > 0),
        other => Err(unexpected("EXISTS", other)),
    }
}

/// Safe scope characters: kept as they are in keys.
fn is_safe_scope(scope: &str) -> bool {
    scope.len() <= 128
        && scope.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        })
}

/// A record's key, `<prefix>:<scope>:<fingerprint hex>`, written straight into a command's buffer
/// (no string is built on the way).
#[derive(Clone, Copy)]
struct KeyArg<'a> {
    prefix: &'a str,
    key: Key<'a>,
}

impl KeyArg<'_> {
    fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(self.prefix.as_bytes())?;
        out.write_all(b":")?;
        let scope = self.key.scope;
        if is_safe_scope(scope) {
            out.write_all(scope.as_bytes())?;
        } else {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(scope.as_bytes());
            let mut hashed = [0u8; 33];
            hashed[0] = b'#';
            hex::encode_to_slice(&digest[..16], &mut hashed[1..]).map_err(std::io::Error::other)?;
            out.write_all(&hashed)?;
        }
        out.write_all(b":")?;
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.key.fingerprint.as_bytes(), &mut hex)
            .map_err(std::io::Error::other)?;
        out.write_all(&hex)
    }
}

impl ToRedisArgs for KeyArg<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // Writing into the command's own buffer cannot fail.
        let _ = self.write(&mut out.writer_for_next_arg());
    }
}

impl fmt::Display for KeyArg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf =
            Vec::with_capacity(self.prefix.len() + 2 + 64 + self.key.scope.len().min(128));
        self.write(&mut buf).map_err(|_| fmt::Error)?;
        // Printable ASCII: the prefix is checked, the scope is safe or hashed, the rest is hex.
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

/// A claim's in-progress record, written straight into a command's buffer.
struct ClaimArg<'a, 'r>(&'a ClaimRequest<'r>);

impl ToRedisArgs for ClaimArg<'_, '_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // Writing into the command's own buffer cannot fail.
        let _ = record::write_claim(&mut out.writer_for_next_arg(), self.0);
    }
}

impl Store for RedisStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn claim(&self, key: Key<'_>, request: &ClaimRequest<'_>) -> Result<ClaimOutcome, Error> {
        let redis_key = self.key_arg(key);
        let reply = if self.scripted_claims() {
            // Boxed: a rare path (servers before 7.0) that would otherwise double the future's size.
            Box::pin(self.claim_by_script(redis_key, request)).await
        } else {
            match self.inner.conn.query(&nx_get_cmd(redis_key, request)).await {
                Err(err) if scripts::is_syntax_error(&err) => {
                    self.fall_back_to_script();
                    Box::pin(self.claim_by_script(redis_key, request)).await
                }
                other => other,
            }
        };
        claim_outcome(&redis_key, reply.map_err(|err| Error::store(NAME, err))?)
    }

    async fn complete(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        let redis_key = self.key_arg(key);
        let prefix = record::owner_prefix(owner);
        let px = millis(ttl).to_string();
        let reply = self
            .script(
                &self.inner.complete,
                redis_key,
                &[&prefix, px.as_bytes(), &record::COMPLETED_HEADER, value],
            )
            .await
            .map_err(|err| Error::store(NAME, err))?;
        complete_outcome(key, &redis_key, reply)
    }

    async fn release(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        let redis_key = self.key_arg(key);
        let prefix = record::owner_prefix(owner);
        let reply = self
            .script(&self.inner.release, redis_key, &[&prefix])
            .await
            .map_err(|err| Error::store(NAME, err))?;
        release_outcome(reply)
    }

    async fn store(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        let redis_key = self.key_arg(key);
        match self
            .inner
            .conn
            .query(&store_cmd(redis_key, value, expire))
            .await
        {
            Ok(Value::Okay) => Ok(()),
            Ok(other) => Err(unexpected("SET", other)),
            Err(err) => Err(Error::store(NAME, err)),
        }
    }

    async fn get(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        let redis_key = self.key_arg(key);
        let replies = self
            .inner
            .conn
            .pipeline(&get_pipeline(redis_key))
            .await
            .map_err(|err| Error::store(NAME, err))?;
        get_outcome(&redis_key, replies)
    }

    async fn contains(&self, key: Key<'_>) -> Result<bool, Error> {
        let redis_key = self.key_arg(key);
        let reply = self
            .inner
            .conn
            .query(redis::cmd("EXISTS").arg(redis_key))
            .await
            .map_err(|err| Error::store(NAME, err))?;
        exists_outcome(reply)
    }
}

impl BlockingStore for RedisStore {
    fn claim_blocking(
        &self,
        key: Key<'_>,
        request: &ClaimRequest<'_>,
    ) -> Result<ClaimOutcome, Error> {
        let redis_key = self.key_arg(key);
        let by_script = |store: &Self| {
            let record = record::encode_claim(request);
            let px = millis(request.lease).to_string();
            store.script_blocking(&store.inner.claim, redis_key, &[&record, px.as_bytes()])
        };
        let reply = if self.scripted_claims() {
            by_script(self)?
        } else {
            let cmd = nx_get_cmd(redis_key, request);
            match self.inner.pool.with(|con| cmd.query::<Value>(con)) {
                Err(Error::Store { source, .. })
                    if source
                        .downcast_ref::<redis::RedisError>()
                        .is_some_and(scripts::is_syntax_error) =>
                {
                    self.fall_back_to_script();
                    by_script(self)?
                }
                other => other?,
            }
        };
        claim_outcome(&redis_key, reply)
    }

    fn complete_blocking(
        &self,
        key: Key<'_>,
        owner: OwnerToken,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), Error> {
        let redis_key = self.key_arg(key);
        let prefix = record::owner_prefix(owner);
        let px = millis(ttl).to_string();
        let reply = self.script_blocking(
            &self.inner.complete,
            redis_key,
            &[&prefix, px.as_bytes(), &record::COMPLETED_HEADER, value],
        )?;
        complete_outcome(key, &redis_key, reply)
    }

    fn release_blocking(&self, key: Key<'_>, owner: OwnerToken) -> Result<bool, Error> {
        let redis_key = self.key_arg(key);
        let prefix = record::owner_prefix(owner);
        release_outcome(self.script_blocking(&self.inner.release, redis_key, &[&prefix])?)
    }

    fn store_blocking(&self, key: Key<'_>, value: &[u8], expire: Duration) -> Result<(), Error> {
        let redis_key = self.key_arg(key);
        let cmd = store_cmd(redis_key, value, expire);
        match self.inner.pool.with(|con| cmd.query::<Value>(con))? {
            Value::Okay => Ok(()),
            other => Err(unexpected("SET", other)),
        }
    }

    fn get_blocking(&self, key: Key<'_>) -> Result<Option<Record>, Error> {
        let redis_key = self.key_arg(key);
        let clustered = self.inner.pool.with_cluster(|con| {
            let mut pipe = redis::cluster::cluster_pipe();
            pipe.cmd("GET").arg(redis_key).cmd("PTTL").arg(redis_key);
            pipe.query::<Vec<Value>>(con)
        })?;
        let replies = match clustered {
            Some(replies) => replies.map_err(|err| Error::store(NAME, err))?,
            None => {
                let pipe = get_pipeline(redis_key);
                self.inner.pool.with(|con| pipe.query::<Vec<Value>>(con))?
            }
        };
        get_outcome(&redis_key, replies)
    }

    fn contains_blocking(&self, key: Key<'_>) -> Result<bool, Error> {
        let redis_key = self.key_arg(key);
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(redis_key);
        exists_outcome(self.inner.pool.with(|con| cmd.query::<Value>(con))?)
    }
}
