//! The marketplace's agents, and telling every process when they change.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Agent, AgentChange, AgentFilter, AgentPatch, NewAgent, StoreResult};

#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn create_agent(&self, new: &NewAgent) -> StoreResult<Agent>;
    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>>;
    async fn get_agent_by_tool_name(&self, tool_name: &str) -> StoreResult<Option<Agent>>;
    /// Agents ordered by tool_name.
    async fn list_agents(&self, filter: &AgentFilter) -> StoreResult<Vec<Agent>>;
    async fn update_agent(&self, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent>;
    /// Delete an agent; a [`super::StoreError::ForeignKeyViolation`] if
    /// execution logs reference it.
    async fn delete_agent(&self, id: Uuid) -> StoreResult<bool>;
    /// Apply catalog changes (manifests) in one transaction: all or nothing.
    async fn apply_agent_changes(&self, changes: &[AgentChange]) -> StoreResult<Vec<Agent>>;

    /// Bumped by a trigger on every write to `agents`.
    async fn catalog_version(&self) -> StoreResult<i64>;
    /// Send `()` on `changed` whenever any process changes the agents table,
    /// until `stop` is cancelled. PostgreSQL: LISTEN/NOTIFY (plus a slow poll
    /// as a safety net); SQLite: a cheap version poll every `poll`.
    async fn watch_catalog(
        &self,
        changed: mpsc::Sender<()>,
        stop: CancellationToken,
        poll: Duration,
    );
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs,
// JSON, decimals and booleans as text and integers).

pub(super) const INSERT_AGENT: &str = concat!(
    "INSERT INTO agents (id, name, tool_name, description, engine_type, engine_flow_id, \
     input_schema, input_schema_order, required_credential_types, price_one_time, \
     price_monthly, credits_per_call, status, engine_config, timeout_ms, charge_failed_calls, \
     task_mode) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING ",
    agent_cols!()
);
pub(super) const AGENT_BY_ID: &str =
    concat!("SELECT ", agent_cols!(), " FROM agents WHERE id = $1");
pub(super) const AGENT_BY_TOOL_NAME: &str = concat!(
    "SELECT ",
    agent_cols!(),
    " FROM agents WHERE tool_name = $1"
);
/// Followed by the filters, the keyset and the limit.
pub(super) const AGENTS: &str = concat!("SELECT ", agent_cols!(), " FROM agents WHERE TRUE");
pub(super) const DELETE_AGENT: &str = "DELETE FROM agents WHERE id = $1";
pub(super) const CATALOG_VERSION: &str = "SELECT version FROM catalog_state WHERE id = 1";

/// The poll loop shared by both backends' `watch_catalog`.
pub(super) async fn poll_catalog_version(
    store: &dyn CatalogStore,
    changed: &mpsc::Sender<()>,
    stop: &CancellationToken,
    poll: Duration,
    mut last: Option<i64>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        match store.catalog_version().await {
            Ok(v) if Some(v) != last => {
                if last.is_some() && changed.send(()).await.is_err() {
                    return;
                }
                last = Some(v);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "catalog version poll failed"),
        }
    }
}
