//! The shared application state the edges (MCP transports, chat-tools,
//! admin, metrics) are handed: cheap to clone, everything behind one `Arc`,
//! reached through accessors. It is defined here, below the edges and above
//! the call pipeline; it is *assembled* by the composition root
//! ([`crate::server`]), which is the only place that sees every module.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::AuthCache;
use crate::billing::EntitlementCache;
use crate::calls::Pipeline;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::engines::Engines;
use crate::error::Result;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::notify::SessionRegistry;
use crate::oidc::Oidc;
use crate::store::{DynStore, Store};
use crate::vault::Vault;

/// Shared application state: cheap to clone, everything behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The call pipeline and what it owns (store, journal, Vault, engines,
    /// catalog, entitlements, limits, configuration, lifecycle).
    calls: Pipeline,
    auth: AuthCache,
    oidc: Option<Oidc>,
    replica_id: uuid::Uuid,
}

impl AppState {
    /// The state around a call pipeline the composition root built.
    pub fn new(calls: Pipeline, oidc: Option<Oidc>) -> Self {
        Self {
            inner: Arc::new(Inner {
                auth: AuthCache::new(calls.config().auth_cache_ttl),
                oidc,
                calls,
                replica_id: uuid::Uuid::new_v4(),
            }),
        }
    }

    /// The call pipeline every transport hands its calls to.
    pub fn calls(&self) -> &Pipeline {
        &self.inner.calls
    }

    pub fn store(&self) -> &dyn Store {
        self.calls().store()
    }

    pub fn store_arc(&self) -> &DynStore {
        self.calls().store_arc()
    }

    pub fn vault(&self) -> &Vault {
        self.calls().vault()
    }

    pub fn engines(&self) -> &Engines {
        self.calls().engines()
    }

    pub fn catalog(&self) -> &Catalog {
        self.calls().catalog()
    }

    /// Connected MCP sessions, for `tools/list_changed`.
    pub fn sessions(&self) -> &SessionRegistry {
        self.calls().sessions()
    }

    /// Users' entitlements, cached like API keys.
    pub fn entitlements(&self) -> &EntitlementCache {
        self.calls().entitlements()
    }

    pub fn auth(&self) -> &AuthCache {
        &self.inner.auth
    }

    /// Forget every cached caller (API keys and OAuth tokens), after a change
    /// made here to who may call (a key revoked, a user disabled…).
    pub fn forget_callers(&self) {
        self.auth().clear();
        if let Some(oidc) = self.oidc() {
            oidc.forget();
        }
    }

    /// The OAuth access-token verifier, when `auth.oidc` is configured.
    pub fn oidc(&self) -> Option<&Oidc> {
        self.inner.oidc.as_ref()
    }

    pub fn config(&self) -> &Config {
        self.calls().config()
    }

    /// Shutdown signals and the in-flight call tracker.
    pub fn lifecycle(&self) -> &Lifecycle {
        self.calls().lifecycle()
    }

    /// Cancelled when the process shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        self.lifecycle().shutdown_token()
    }

    pub fn limits(&self) -> &Limits {
        self.calls().limits()
    }

    /// This process, as recorded in `replicas` and on its calls' rows.
    pub fn replica_id(&self) -> uuid::Uuid {
        self.inner.replica_id
    }

    /// Reload the catalog now (after a change made by this process).
    pub async fn refresh_catalog(&self) -> Result<bool> {
        Ok(self.catalog().refresh(self.store()).await?)
    }
}
