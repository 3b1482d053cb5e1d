//! What the stages work with: the pipeline's own dependencies
//! ([`Pipeline`]: the call pipeline never names the application state, axum
//! or a transport; the composition root builds one, the application state
//! holds it for every transport), and one call's context ([`Call`]).

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tracing::Span;
use uuid::Uuid;

use crate::billing::EntitlementCache;
use crate::catalog::{Catalog, CatalogEntry, ListShape};
use crate::config::Config;
use crate::engines::Engines;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::notify::SessionRegistry;
use crate::portal::ConnectLinks;
use crate::scrub::Scrubber;
use crate::store::{
    Agent, Backend, DynStore, ExecutionOutcome, ExecutionStatus, NewExecutionLog, Store, User,
};
use crate::toolbox::Toolboxes;
use crate::vault::Vault;

use super::inflight::InFlight;
use super::journal::Journal;
use super::purge::Purger;
use super::{CallRequest, PROGRESS_STEPS, redact};

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
    toolboxes: Toolboxes,
    sessions: SessionRegistry,
    limits: Limits,
    links: ConnectLinks,
    config: Arc<Config>,
    lifecycle: Lifecycle,
    purger: Purger,
    inflight: InFlight,
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
                toolboxes: Toolboxes::new(config.auth_cache_ttl),
                sessions: SessionRegistry::default(),
                limits: Limits::new(&config.limits),
                catalog: Catalog::with_shape(ListShape {
                    page_size: config.mcp.tools_page_size,
                    show_unpurchased: config.catalog.show_unpurchased,
                    currency: config.billing.currency.clone(),
                    market: config.marketplace.clone(),
                }),
                links: ConnectLinks::new(
                    vault.clone(),
                    config.public_base_url(),
                    config.web.connect_link_ttl,
                ),
                purger: Purger::start(store.clone(), engines.clone(), &config.engines, &lifecycle),
                inflight: InFlight::start(store.clone(), lifecycle.shutdown_token().clone()),
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

    /// Users' toolboxes, cached.
    pub fn toolboxes(&self) -> &Toolboxes {
        &self.inner.toolboxes
    }

    /// Connected MCP sessions, told when a user's tool list changes.
    pub fn sessions(&self) -> &SessionRegistry {
        &self.inner.sessions
    }

    /// Changes `user`'s toolbox and tells their sessions.
    pub fn toolbox_editor(&self) -> crate::toolbox::Editor<'_> {
        crate::toolbox::Editor {
            store: self.store(),
            toolboxes: self.toolboxes(),
            sessions: self.sessions(),
        }
    }

    /// Connect links for credentials a call lacks.
    pub fn connect_links(&self) -> &ConnectLinks {
        &self.inner.links
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The calls this process runs, cancellable from any replica.
    pub(super) fn inflight(&self) -> &InFlight {
        &self.inner.inflight
    }

    /// The worker that purges engine-side copies of calls.
    pub fn purger(&self) -> &Purger {
        &self.inner.purger
    }

    /// Shutdown signals and the in-flight call tracker.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }
}

/// One call on its way through the stages: what every stage reads.
pub(super) struct Call<'a> {
    /// The `execution_logs` row's id.
    pub id: Uuid,
    pub entry: &'a CatalogEntry,
    pub request: &'a CallRequest,
    pub started: Instant,
}

impl Call<'_> {
    pub fn agent(&self) -> &Agent {
        &self.entry.agent
    }

    pub fn user(&self) -> &User {
        &self.request.user
    }

    /// The call's row, as the journal first writes it.
    pub fn row(&self, input_snapshot: Value) -> NewExecutionLog {
        NewExecutionLog {
            id: self.id,
            user_id: self.request.user.id,
            agent_id: self.entry.agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: Some(input_snapshot),
        }
    }

    /// The arguments as a snapshot, before any credential is known: only
    /// secret-looking values are redacted.
    pub fn plain_snapshot(&self) -> Value {
        redact::input_snapshot(&self.request.arguments, &Scrubber::default())
    }

    /// How the call ended when it failed: `error` on the row, `charge`
    /// credits consumed, nothing from the engine.
    pub fn failed(&self, error: String, charge: i32) -> ExecutionOutcome {
        ExecutionOutcome {
            status: ExecutionStatus::Failed,
            external_execution_id: None,
            output_snapshot: None,
            duration_ms: Some(self.elapsed_ms()),
            credits_consumed: charge,
            error: Some(error),
        }
    }

    /// Milliseconds since the call began, for the row.
    pub fn elapsed_ms(&self) -> i32 {
        i32::try_from(self.started.elapsed().as_millis()).unwrap_or(i32::MAX)
    }

    /// The span every stage logs in.
    pub fn span(&self) -> Span {
        let agent = self.agent();
        tracing::info_span!(
            "call",
            execution_id = %self.id,
            tool = %agent.tool_name,
            agent_id = %agent.id,
            user_id = %self.request.user.id,
            transport = self.request.transport,
            engine = %agent.engine_type,
        )
    }

    /// Progress back to the caller's transport, if it asked for it.
    pub async fn progress(&self, step: f64, message: &str) {
        if let Some(progress) = &self.request.progress {
            progress.report(step, PROGRESS_STEPS, message).await;
        }
    }
}
