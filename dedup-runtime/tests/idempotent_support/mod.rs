//! What the `#[idempotent]` behaviour tests share: an error type, a store on a manual clock, a
//! tracing capture and a way to poll a future by hand.

#![allow(dead_code)]

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll, Waker};

use dedup_runtime::Error;
use dedup_runtime::store::{ManualClock, MemoryStore};
use serde::{Deserialize, Serialize};

/// A handler's error: its own failure, or the deduplication's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error("handler failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Dedup(#[from] Error),
}

impl HandlerError {
    /// The deduplication error, or a panic naming what came instead.
    #[track_caller]
    pub(crate) fn dedup(self) -> Error {
        match self {
            HandlerError::Dedup(err) => err,
            other => panic!("expected a dedup error, got {other:?}"),
        }
    }
}

/// A result type worth replaying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    pub(crate) order_id: u64,
    pub(crate) charge_id: String,
}

/// A memory store whose expiry only moves with the returned clock.
pub(crate) fn manual_store() -> (MemoryStore, ManualClock) {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    (store, clock)
}

/// What the test binary's subscriber wrote while this thread was capturing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

thread_local! {
    /// Where this thread's events go while it captures.
    static CAPTURING: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// The subscriber's writer: appends to the capturing buffer of the thread that logs, if any.
struct ThreadWriter;

impl io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CAPTURING.with(|capturing| {
            if let Some(captured) = &*capturing.borrow() {
                captured
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stops this thread's capture when dropped.
#[derive(Debug)]
pub(crate) struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

/// Captures this thread's tracing events until the guard is dropped.
///
/// One global subscriber serves the whole test binary, installed by the first capture. A
/// per-test `set_default` subscriber would race with tests on other threads: a callsite they hit
/// while no subscriber existed caches "never", and this thread's event was then dropped.
pub(crate) fn capture_traces() -> (Captured, CaptureGuard) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
    });
    // Callsites registered before the subscriber existed recompute their interest.
    tracing::callsite::rebuild_interest_cache();
    let captured = Captured::default();
    CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(captured.clone()));
    (captured, CaptureGuard(()))
}

/// Polls `future` once, with a waker that does nothing (no runtime needed).
pub(crate) fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs a future that completes without waiting on anything (a memory store's calls), outside
/// any runtime.
#[track_caller]
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match poll_once(future.as_mut()) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited on something"),
    }
}
