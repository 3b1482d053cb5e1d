//! The calls this process is running, and their cancellation from anywhere.
//!
//! Every call whose row is durable is registered here with its cancel token
//! until it ends. A cancellation asked of any replica (`DELETE
//! /v1/executions/{id}`) is recorded in the database (`call_cancellations`);
//! this process looks for those of its own calls every second and cancels
//! them (the engine request is dropped, the row ends `failed` "cancelled",
//! the credits are released); while it runs none, it does not look. Asked
//! of this process, it cancels at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::DynStore;

/// How often the database is asked for cancellations of this process's calls
/// (only while it runs any).
const POLL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct InFlight {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    running: Mutex<HashMap<Uuid, CancellationToken>>,
    /// Wakes the watcher when a call registers (it sleeps while none run).
    busy: tokio::sync::Notify,
}

impl InFlight {
    /// Start watching for cancellations; stops at `shutdown`.
    pub fn start(store: DynStore, shutdown: CancellationToken) -> Self {
        let inflight = Self {
            inner: Arc::new(Inner {
                store,
                running: Mutex::default(),
                busy: tokio::sync::Notify::new(),
            }),
        };
        let watcher = inflight.clone();
        tokio::spawn(async move {
            loop {
                // No polling while this process runs no call.
                let idle = watcher.running().is_empty();
                tokio::select! {
                    _ = watcher.inner.busy.notified(), if idle => continue,
                    _ = tokio::time::sleep(POLL), if !idle => watcher.cancel_requested().await,
                    _ = shutdown.cancelled() => return,
                }
            }
        });
        inflight
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CancellationToken>> {
        // A poisoned map is still a consistent map of tokens.
        self.inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn register(&self, id: Uuid, cancel: CancellationToken) {
        let first = {
            let mut running = self.running();
            running.insert(id, cancel);
            running.len() == 1
        };
        if first {
            self.inner.busy.notify_one();
        }
    }

    pub(super) fn unregister(&self, id: Uuid) {
        self.running().remove(&id);
    }

    /// Cancel a call if this process runs it; whether it did.
    pub(super) fn cancel(&self, id: Uuid) -> bool {
        match self.running().get(&id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    async fn cancel_requested(&self) {
        let ids: Vec<Uuid> = self.running().keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        match self.inner.store.cancels_requested(&ids).await {
            Ok(asked) => {
                for id in asked {
                    if self.cancel(id) {
                        tracing::info!(execution_id = %id, "call cancelled on request");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read cancellation requests"),
        }
    }
}
