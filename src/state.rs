//! The shared application state the edges (MCP transports, chat-tools,
//! admin, metrics) are handed: cheap to clone, everything behind one `Arc`,
//! reached through accessors. It is defined here, below the edges and above
//! the call pipeline; it is *assembled* by the composition root
//! ([`crate::server`]), which is the only place that sees every module.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::AuthCache;
use crate::billing::EntitlementCache;
use crate::calls::journal::Journal;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::engines::Engines;
use crate::error::Result;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::notify::SessionRegistry;
use crate::store::{Backend, DynStore, Store};
use crate::vault::Vault;

/// Shared application state: cheap to clone, everything behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    journal: Journal,
    vault: Vault,
    engines: Engines,
    catalog: Catalog,
    sessions: SessionRegistry,
    auth: AuthCache,
    entitlements: EntitlementCache,
    limits: Limits,
    replica_id: uuid::Uuid,
    config: Config,
    lifecycle: Lifecycle,
}

impl AppState {
    pub fn new(store: DynStore, vault: Vault, engines: Engines, config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                auth: AuthCache::new(config.auth_cache_ttl),
                entitlements: EntitlementCache::new(config.auth_cache_ttl),
                limits: Limits::new(&config.limits),
                replica_id: uuid::Uuid::new_v4(),
                journal: Journal::start(
                    store.clone(),
                    match store.backend() {
                        Backend::Sqlite => 1,
                        Backend::Postgres => config.journal_writers as usize,
                    },
                ),
                store,
                vault,
                engines,
                catalog: Catalog::new(),
                sessions: SessionRegistry::default(),
                config,
                lifecycle: Lifecycle::new(),
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The Shadow Journal writer (group-committed `execution_logs` writes).
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub fn store_arc(&self) -> &DynStore {
        &self.inner.store
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn engines(&self) -> &Engines {
        &self.inner.engines
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn sessions(&self) -> &SessionRegistry {
        &self.inner.sessions
    }

    /// Users' entitlements, cached like API keys.
    pub fn entitlements(&self) -> &EntitlementCache {
        &self.inner.entitlements
    }

    pub fn auth(&self) -> &AuthCache {
        &self.inner.auth
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Shutdown signals and the in-flight call tracker.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// Cancelled when the process shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        self.inner.lifecycle.shutdown_token()
    }

    /// Cancelled when the shutdown grace period is over: calls still
    /// running are stopped (rows `failed`, credits released).
    pub fn hard_stop(&self) -> &CancellationToken {
        self.inner.lifecycle.hard_stop()
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// This process, as recorded in `replicas` and on its calls' rows.
    pub fn replica_id(&self) -> uuid::Uuid {
        self.inner.replica_id
    }

    /// In-flight tool calls.
    pub fn call_tracker(&self) -> &TaskTracker {
        self.inner.lifecycle.call_tracker()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.lifecycle.is_shutting_down()
    }

    /// Reload the catalog now (after a change made by this process).
    pub async fn refresh_catalog(&self) -> Result<bool> {
        Ok(self.catalog().refresh(self.store()).await?)
    }
}
