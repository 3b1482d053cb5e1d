//! Start-up: the schema, the infrastructure, the application state, this
//! replica's registration, the recovery of calls a stopped process left
//! running, and the background tasks.

use std::sync::Arc;

use crate::calls::Pipeline;
use crate::config::{self, Config};
use crate::engines::Engines;
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::state::AppState;
use crate::store::{self, Store, StoreError};
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
    let oidc = crate::oidc::Oidc::from_config(&config)?;
    if let Some(oidc) = &oidc {
        tracing::info!(issuer = %oidc.config().issuer, resource = %oidc.resource("/mcp"),
            "OAuth access tokens accepted");
        if config.public_url.is_none() {
            tracing::warn!(
                resource = %oidc.resource("/mcp"),
                "auth.oidc is set but public_url is not: clients are told the resource is the \
                 listen address; set VIEAGENT_PUBLIC_URL to the URL remote assistants use"
            );
        }
    }
    let calls = Pipeline::new(store, vault, engines, Arc::new(config), Lifecycle::new());
    let state = AppState::new(calls, oidc);
    state.store().set_replica_id(state.replica_id());
    state
        .store()
        .register_replica(
            state.replica_id(),
            &config::hostname(),
            env!("CARGO_PKG_VERSION"),
            super::recovery::this_process().as_deref(),
        )
        .await
        .map_err(|e| Error::Startup(format!("could not register this replica: {e}")))?;
    tracing::info!(replica = %state.replica_id(), "registered replica");
    state.refresh_catalog().await?;
    // A process of this host killed before this one started is known dead
    // at once: its calls end now, not a heartbeat timeout later.
    if !super::recovery::recover_dead_replicas(&state).await {
        super::recovery::recover_stale_calls(&state).await;
    }
    super::background::spawn(&state);
    Ok(state)
}
