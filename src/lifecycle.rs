//! The process's lifecycle, shared by the server, the call pipeline and the
//! transports: the shutdown and hard-stop signals, the tracker of in-flight
//! calls, and whether new calls are still taken. Cheap to clone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Lifecycle {
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
    calls: TaskTracker,
    shutting_down: Arc<AtomicBool>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancelled when the process shuts down: sessions, streams and
    /// background tasks end.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancelled when the shutdown grace period is over: calls still
    /// running are stopped (rows `failed`, credits released).
    pub fn hard_stop(&self) -> &CancellationToken {
        &self.hard_stop
    }

    /// In-flight tool calls.
    pub fn call_tracker(&self) -> &TaskTracker {
        &self.calls
    }

    /// New calls are refused once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}
