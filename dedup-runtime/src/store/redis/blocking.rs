//! The blocking API's connections: a small pool of synchronous connections, opened on demand.
//!
//! A connection that fails with anything but a server's reply is dropped, with every idle one
//! (after a server restart they are all dead), so the next operation opens a fresh one: the pool
//! reconnects by itself. A failed operation is not retried: it may have been applied.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::{ConnectionLike, ErrorKind, RedisError, RedisResult};

use super::{BackendError, NAME};
use crate::Error;

/// Where blocking connections come from.
pub(super) enum Source {
    Standalone(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
    /// Built from an async connection only: no client to open synchronous connections with.
    Unavailable,
}

enum Conn {
    Standalone(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Standalone(conn) => conn,
            Conn::Cluster(conn) => &mut **conn,
        }
    }
}

pub(super) struct Pool {
    source: Source,
    idle: Mutex<Vec<Conn>>,
    max_idle: usize,
    connection_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle", &self.max_idle)
            .field("idle", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(super) fn new(
        source: Source,
        max_idle: usize,
        connection_timeout: Option<Duration>,
        response_timeout: Option<Duration>,
    ) -> Self {
        Pool {
            source,
            idle: Mutex::new(Vec::new()),
            max_idle,
            connection_timeout,
            response_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        // The pool holds no invariant a panic could break: a poisoned lock is still usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> Result<Conn, Error> {
        match &self.source {
            Source::Standalone(client) => {
                let conn = match self.connection_timeout {
                    Some(timeout) => client.get_connection_with_timeout(timeout),
                    None => client.get_connection(),
                }
                .map_err(|err| Error::store(NAME, err))?;
                conn.set_read_timeout(self.response_timeout)
                    .and_then(|()| conn.set_write_timeout(self.response_timeout))
                    .map_err(|err| Error::store(NAME, err))?;
                Ok(Conn::Standalone(conn))
            }
            Source::Cluster(client) => {
                let conn = client
                    .get_connection()
                    .map_err(|err| Error::store(NAME, err))?;
                Ok(Conn::Cluster(Box::new(conn)))
            }
            Source::Unavailable => Err(Error::store(NAME, BackendError::NoBlockingClient)),
        }
    }

    /// Runs `f` on a pooled connection (a new one when none is idle).
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, Error> {
        let idle = self.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(conn.as_dyn());
        match &result {
            Err(err) if !is_reply_error(err) => {
                // The connection is broken or out of step; the idle ones likely died with it.
                drop(conn);
                self.lock().clear();
            }
            _ => {
                let mut idle = self.lock();
                if idle.len() < self.max_idle {
                    idle.push(conn);
                }
            }
        }
        result.map_err(|err| Error::store(NAME, err))
    }

    /// `true` when the connections go to a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.source, Source::Cluster(_))
    }

    /// Runs `f` on a pooled cluster connection; `None` when the store is not on a cluster.
    ///
    /// The driver's result comes back as it is (the caller needs a pipeline's item errors); only
    /// failing to open a connection is an [`Error`].
    pub(super) fn with_cluster<T>(
        &self,
        f: impl FnOnce(&mut redis::cluster::ClusterConnection) -> RedisResult<T>,
    ) -> Result<Option<RedisResult<T>>, Error> {
        if !matches!(self.source, Source::Cluster(_)) {
            return Ok(None);
        }
        let idle = self.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let Conn::Cluster(cluster) = &mut conn else {
            return Ok(None);
        };
        let result = f(cluster);
        match &result {
            Err(err) if !is_reply_error(err) => self.lock().clear(),
            _ => {
                let mut idle = self.lock();
                if idle.len() < self.max_idle {
                    idle.push(conn);
                }
            }
        }
        Ok(Some(result))
    }
}

/// An error the server replied with: the connection is still in step and can be reused.
fn is_reply_error(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}
