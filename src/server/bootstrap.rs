//! Start-up: the schema, the infrastructure, the application state, this
//! replica's registration and the recovery of calls a stopped process left
//! running.

use std::time::Duration;

use crate::config::{self, Config};
use crate::engines::Engines;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, Orphans, Store, StoreError};
use crate::vault::Vault;

/// Bring the schema up to date, refusing a database newer than this binary.
pub async fn prepare_schema(store: &dyn Store) -> Result<()> {
    match store.migrate().await {
        Ok(applied) if applied.is_empty() => {
            tracing::debug!("database schema is current");
            Ok(())
        }
        Ok(applied) => {
            tracing::info!(?applied, "applied database migrations");
            Ok(())
        }
        Err(e @ StoreError::SchemaTooNew { .. }) => Err(Error::Startup(e.to_string())),
        Err(e) => Err(Error::Startup(format!(
            "could not migrate the database: {e}"
        ))),
    }
}

/// Everything a gateway process needs before it serves: database (migrated),
/// Vault key check, engines, demo seed, stale-call recovery, catalog, and the
/// background tasks (catalog watcher, list-changed fan-out, recovery sweep).
pub async fn prepare(config: Config) -> Result<AppState> {
    crate::crypto::install_tls_provider();
    let store = store::connect(&config).await?;
    prepare_schema(store.as_ref()).await?;
    let vault = Vault::open(&config, store.clone()).await?;
    let engines = Engines::from_config(&config.engines)
        .map_err(|e| Error::Startup(format!("engine configuration: {e}")))?;
    if !engines.configured().is_empty() {
        tracing::info!(engines = ?engines.configured(), "engines configured");
    }
    crate::demo::seed_if_wanted(&config, store.as_ref()).await?;
    let state = AppState::new(store, vault, engines, config);
    state.store().set_replica_id(state.replica_id());
    state
        .store()
        .register_replica(
            state.replica_id(),
            &config::hostname(),
            env!("CARGO_PKG_VERSION"),
        )
        .await
        .map_err(|e| Error::Startup(format!("could not register this replica: {e}")))?;
    tracing::info!(replica = %state.replica_id(), "registered replica");
    state.refresh_catalog().await?;
    recover_stale_calls(&state).await;
    super::background::spawn(&state);
    Ok(state)
}

/// The longest a call can legitimately run: any `running` row older than
/// this (plus a margin) belongs to a process that is gone.
fn max_call_duration(state: &AppState) -> Duration {
    let engines = &state.config().engines;
    let mut longest = engines
        .flowise
        .call_timeout
        .max(engines.activepieces.call_timeout)
        .max(Duration::from_secs(10));
    for entry in state.catalog().snapshot().entries() {
        if let Some(ms) = entry.agent.timeout_ms.and_then(|ms| u64::try_from(ms).ok()) {
            longest = longest.max(Duration::from_millis(ms));
        }
    }
    longest
}

/// Mark calls left running by a dead process as failed ("gateway
/// restarted"): rows of replicas that stopped heartbeating (3 intervals),
/// and untagged rows older than the longest possible call. Live replicas'
/// calls are never touched, however long they run.
pub(super) async fn recover_stale_calls(state: &AppState) {
    let now = chrono::Utc::now();
    let stale_after = max_call_duration(state) + Duration::from_secs(5);
    let silent = state.config().heartbeat_interval * 3;
    let orphans = Orphans {
        me: Some(state.replica_id()),
        dead_before: now
            - chrono::Duration::from_std(silent).unwrap_or(chrono::Duration::seconds(15)),
        legacy_before: now
            - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::minutes(5)),
    };
    match state
        .store()
        .fail_orphaned_executions(&orphans, "gateway restarted")
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rows = n,
            "marked calls left running by a stopped gateway as failed"
        ),
        Err(e) => tracing::warn!(error = %e, "stale call recovery failed"),
    }
}
