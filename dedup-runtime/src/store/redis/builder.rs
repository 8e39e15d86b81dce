//! [`RedisStoreBuilder`]: where the store connects, its key prefix and its time limits.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;

use super::blocking::{Pool, Source as BlockingSource};
use super::{AsyncConn, NAME, RedisStore};
use crate::Error;

/// Options for a [`RedisStore`]: `RedisStore::builder(url)`, `RedisStore::cluster_builder(nodes)`,
/// or one of the `from_*` constructors for a client or connection you already have.
///
/// ```no_run
/// # async fn run() -> Result<(), dedup_runtime::Error> {
/// use std::time::Duration;
/// use dedup_runtime::store::RedisStore;
///
/// let store = RedisStore::builder("redis://:secret@redis.internal:6379/0")
///     .prefix("billing-dedup")
///     .response_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Authentication and the database number are given in the URL, as the `redis` crate reads them.
///
/// TLS needs the `redis-tls` feature. A `rediss://` URL verifies the server's certificate
/// against the system's trusted roots; `rediss://host:port/#insecure` skips verification. For
/// a server whose certificate a private CA signed (or for client certificates), build a
/// `redis::Client` with `redis::Client::build_with_tls` and pass it to
/// [`from_client`](Self::from_client).
///
/// A cluster's node URLs take `rediss://` and `#insecure` the same way, and the nodes the client
/// learns from the cluster's slot map are reached over TLS too. The `redis` crate accepts a
/// private CA for a cluster client only when built with rustls (`ClusterClientBuilder::certs`),
/// which `redis-tls` does not use: with `redis-tls`, a cluster whose CA is private needs that
/// CA in the system's trusted roots, or `#insecure`.
///
/// `dedup-runtime/tests/redis_tls.rs` does each of these against a real TLS server and a real
/// TLS-only cluster (client certificates aside).
pub struct RedisStoreBuilder {
    source: Source,
    prefix: String,
    connection_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    reconnect_retries: usize,
    blocking_pool_size: usize,
    claim_by_script: bool,
}

enum Source {
    Url(String),
    Client(Box<redis::Client>),
    Manager(ConnectionManager),
    ClusterNodes(Vec<String>),
    ClusterClient(Box<ClusterClient>),
    ClusterConnection(ClusterConnection),
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs may carry a password: only the kind of source is shown.
        let source = match &self.source {
            Source::Url(_) => "url",
            Source::Client(_) => "client",
            Source::Manager(_) => "connection manager",
            Source::ClusterNodes(_) => "cluster nodes",
            Source::ClusterClient(_) => "cluster client",
            Source::ClusterConnection(_) => "cluster connection",
        };
        f.debug_struct("RedisStoreBuilder")
            .field("source", &source)
            .field("prefix", &self.prefix)
            .field("connection_timeout", &self.connection_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("blocking_pool_size", &self.blocking_pool_size)
            .field("claim_by_script", &self.claim_by_script)
            .finish()
    }
}

impl RedisStoreBuilder {
    fn with_source(source: Source) -> Self {
        RedisStoreBuilder {
            source,
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            connection_timeout: Some(Duration::from_secs(2)),
            response_timeout: Some(Duration::from_secs(2)),
            reconnect_retries: 2,
            blocking_pool_size: 4,
            claim_by_script: false,
        }
    }

    /// A standalone server at `url` (`redis://[user:password@]host[:port][/db]`, `rediss://...`,
    /// `redis+unix:///path`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_source(Source::Url(url.into()))
    }

    /// A Redis Cluster reached through any of `nodes` (URLs as for [`new`](Self::new)).
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_source(Source::ClusterNodes(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }

    /// A standalone server through a client you configured. The builder's time limits apply to
    /// the connections the store opens with it.
    pub fn from_client(client: redis::Client) -> Self {
        Self::with_source(Source::Client(Box::new(client)))
    }

    /// A standalone server through a connection manager you already have (its own reconnection
    /// and time limits apply).
    ///
    /// A store built this way has no client to open synchronous connections with: its
    /// [`BlockingStore`](crate::store::BlockingStore) methods fail with [`Error::Store`]. Use
    /// [`from_client`](Self::from_client) for synchronous handlers.
    pub fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::with_source(Source::Manager(manager))
    }

    /// A Redis Cluster through a client you configured (its own time limits and retries apply).
    pub fn from_cluster_client(client: ClusterClient) -> Self {
        Self::with_source(Source::ClusterClient(Box::new(client)))
    }

    /// A Redis Cluster through an async cluster connection you already have. As with
    /// [`from_connection_manager`](Self::from_connection_manager), the blocking API is unavailable.
    pub fn from_cluster_connection(connection: ClusterConnection) -> Self {
        Self::with_source(Source::ClusterConnection(connection))
    }

    /// The first part of every key, `<prefix>:<scope>:<fingerprint>` (default `"dedup"`): one
    /// Redis shared by several applications or environments gives each its own.
    ///
    /// 1 to 256 printable ASCII characters, no spaces. In a cluster, braces make the prefix a
    /// hash tag that puts every record in one slot: avoid them unless that is what you want.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one attempt to connect may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = Some(timeout);
        self
    }

    /// How long a command may wait for its reply before it fails with [`Error::Store`]
    /// (default 2 s). A handler then fails instead of hanging on a server that went away.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// How many times a lost connection is retried, with a growing delay, before the operation
    /// waiting for it fails (default 2). The next operation starts reconnecting again: the store
    /// never has to be recreated.
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// How many idle synchronous connections the blocking API keeps (default 4). More threads
    /// may use it at once; each then opens its own connection.
    pub fn blocking_pool_size(mut self, size: usize) -> Self {
        self.blocking_pool_size = size;
        self
    }

    /// Claims with a Lua script instead of `SET key value NX PX lease GET`.
    ///
    /// Only for servers older than Redis 7.0, which refuse `NX` with `GET`; the store also switches
    /// by itself the first time a server refuses it.
    pub fn claim_by_script(mut self, yes: bool) -> Self {
        self.claim_by_script = yes;
        self
    }

    fn check(&self) -> Result<(), Error> {
        let prefix = &self.prefix;
        if prefix.is_empty() || prefix.len() > 256 {
            return Err(Error::config(
                NAME,
                format!(
                    "the key prefix must have 1 to 256 characters, not {}",
                    prefix.len()
                ),
            ));
        }
        if let Some(bad) = prefix.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(Error::config(
                NAME,
                format!(
                    "the key prefix {prefix:?} has {bad:?}: only printable ASCII without spaces is allowed"
                ),
            ));
        }
        let urls: &[String] = match &self.source {
            Source::Url(url) => std::slice::from_ref(url),
            Source::ClusterNodes(nodes) => nodes,
            _ => &[],
        };
        if !cfg!(feature = "redis-tls") && urls.iter().any(|url| url.starts_with("rediss://")) {
            // The `redis` crate's own refusal does not say which switch turns TLS on.
            return Err(Error::config(
                NAME,
                "a `rediss://` URL asks for TLS, which needs dedup-runtime's `redis-tls` feature",
            ));
        }
        for (name, timeout) in [
            ("connection", self.connection_timeout),
            ("response", self.response_timeout),
        ] {
            if timeout == Some(Duration::ZERO) {
                return Err(Error::config(
                    NAME,
                    format!("the {name} timeout must be longer than zero"),
                ));
            }
        }
        Ok(())
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(self.connection_timeout)
            .set_response_timeout(self.response_timeout)
            .set_number_of_retries(self.reconnect_retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
    }

    fn cluster_client(&self, nodes: &[String]) -> Result<ClusterClient, Error> {
        if nodes.is_empty() {
            return Err(Error::config(
                NAME,
                "a cluster needs at least one node address",
            ));
        }
        let mut builder = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .retries(u32::try_from(self.reconnect_retries).unwrap_or(u32::MAX));
        if let Some(timeout) = self.connection_timeout {
            builder = builder.connection_timeout(timeout);
        }
        if let Some(timeout) = self.response_timeout {
            // The overall limit covers the retries that redirections (MOVED, ASK) need.
            builder = builder
                .response_timeout(timeout)
                .overall_response_timeout(Some(timeout.saturating_mul(3)));
        }
        builder
            .build()
            .map_err(|err| Error::config(NAME, format!("invalid cluster node addresses: {err}")))
    }

    /// Connects (the first connection is opened now, so an unreachable server fails here with
    /// [`Error::Store`]) and returns the store.
    pub async fn build(self) -> Result<RedisStore, Error> {
        self.check()?;
        let (conn, blocking) = match &self.source {
            Source::Url(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|err| Error::config(NAME, format!("invalid Redis URL: {err}")))?;
                self.open_standalone(client).await?
            }
            Source::Client(client) => self.open_standalone((**client).clone()).await?,
            Source::Manager(manager) => (
                AsyncConn::Standalone(manager.clone()),
                BlockingSource::Unavailable,
            ),
            Source::ClusterNodes(nodes) => {
                let client = self.cluster_client(nodes)?;
                self.open_cluster(client).await?
            }
            Source::ClusterClient(client) => self.open_cluster((**client).clone()).await?,
            Source::ClusterConnection(conn) => (
                AsyncConn::Cluster(conn.clone()),
                BlockingSource::Unavailable,
            ),
        };
        let pool = Pool::new(
            blocking,
            self.blocking_pool_size,
            self.connection_timeout,
            self.response_timeout,
        );
        Ok(RedisStore::assemble(
            self.prefix,
            conn,
            pool,
            self.claim_by_script,
        ))
    }

    async fn open_standalone(
        &self,
        client: redis::Client,
    ) -> Result<(AsyncConn, BlockingSource), Error> {
        let manager = client
            .get_connection_manager_with_config(self.manager_config())
            .await
            .map_err(|err| Error::store(NAME, err))?;
        Ok((
            AsyncConn::Standalone(manager),
            BlockingSource::Standalone(Box::new(client)),
        ))
    }

    async fn open_cluster(
        &self,
        client: ClusterClient,
    ) -> Result<(AsyncConn, BlockingSource), Error> {
        let conn = client
            .get_async_connection()
            .await
            .map_err(|err| Error::store(NAME, err))?;
        Ok((
            AsyncConn::Cluster(conn),
            BlockingSource::Cluster(Box::new(client)),
        ))
    }
}
