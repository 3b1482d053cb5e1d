//! The pipeline's own dependencies, and nothing else: the call pipeline
//! never names the application state, axum or a transport. The composition
//! root builds one [`Pipeline`]; the application state hands it to every
//! transport.

use std::sync::Arc;

use crate::billing::EntitlementCache;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::engines::Engines;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::store::{Backend, DynStore, Store};
use crate::vault::Vault;

use super::journal::Journal;

/// Everything a call needs: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Deps>,
}

struct Deps {
    store: DynStore,
    journal: Journal,
    vault: Vault,
    engines: Engines,
    catalog: Catalog,
    entitlements: EntitlementCache,
    limits: Limits,
    config: Arc<Config>,
    lifecycle: Lifecycle,
}

impl Pipeline {
    /// Start the journal writers and build the caches the pipeline owns
    /// (catalog, entitlements, limits) around the given infrastructure.
    pub fn new(
        store: DynStore,
        vault: Vault,
        engines: Engines,
        config: Arc<Config>,
        lifecycle: Lifecycle,
    ) -> Self {
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => config.journal_writers as usize,
        };
        Self {
            inner: Arc::new(Deps {
                journal: Journal::start(store.clone(), writers),
                entitlements: EntitlementCache::new(config.auth_cache_ttl),
                limits: Limits::new(&config.limits),
                catalog: Catalog::new(),
                store,
                vault,
                engines,
                config,
                lifecycle,
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn store_arc(&self) -> &DynStore {
        &self.inner.store
    }

    /// The Shadow Journal writer (group-committed `execution_logs` writes).
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn engines(&self) -> &Engines {
        &self.inner.engines
    }

    /// The published agents, as tools.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Users' entitlements, cached like API keys.
    pub fn entitlements(&self) -> &EntitlementCache {
        &self.inner.entitlements
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Shutdown signals and the in-flight call tracker.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }
}
