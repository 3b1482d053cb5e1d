//! Agents and catalog change tracking (a version poll) on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{QueryBuilder, query, query_scalar};
use uuid::Uuid;

use super::{SqliteStore, decimal_text, json_text};
use crate::store::catalog::{self as shared, poll_catalog_version};
use crate::store::sql::like_escape;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn create_agent(&self, new: &NewAgent) -> StoreResult<Agent> {
        create_agent_in(&self.writer, new).await
    }

    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>> {
        let q = query(shared::AGENT_BY_ID).bind(id.to_string());
        optional(&self.reader, q, row::agent).await
    }

    async fn get_agent_by_tool_name(&self, tool_name: &str) -> StoreResult<Option<Agent>> {
        let q = query(shared::AGENT_BY_TOOL_NAME).bind(tool_name);
        optional(&self.reader, q, row::agent).await
    }

    async fn list_agents(&self, filter: &AgentFilter) -> StoreResult<Vec<Agent>> {
        let mut q = QueryBuilder::new(shared::AGENTS);
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(engine) = filter.engine_type {
            q.push(" AND engine_type = ").push_bind(engine.as_str());
        }
        if let Some(needle) = &filter.name_contains {
            let pattern = format!("%{}%", like_escape(needle));
            q.push(" AND (name LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR tool_name LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(after) = &filter.after_tool_name {
            q.push(" AND tool_name > ").push_bind(after.clone());
        }
        q.push(" ORDER BY tool_name LIMIT ")
            .push_bind(page_limit(filter.limit));
        all(&self.reader, q.build(), row::agent).await
    }

    async fn update_agent(&self, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent> {
        update_agent_in(&self.writer, id, patch).await
    }

    async fn apply_agent_changes(&self, changes: &[AgentChange]) -> StoreResult<Vec<Agent>> {
        let mut tx = self.writer.begin().await?;
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            applied.push(match change {
                AgentChange::Create(new) => create_agent_in(&mut *tx, new).await?,
                AgentChange::Update(id, patch) => update_agent_in(&mut *tx, *id, patch).await?,
            });
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn delete_agent(&self, id: Uuid) -> StoreResult<bool> {
        let done = query(shared::DELETE_AGENT)
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn catalog_version(&self) -> StoreResult<i64> {
        Ok(query_scalar(shared::CATALOG_VERSION)
            .fetch_one(&self.reader)
            .await?)
    }

    async fn watch_catalog(
        &self,
        changed: tokio::sync::mpsc::Sender<()>,
        stop: tokio_util::sync::CancellationToken,
        poll: Duration,
    ) {
        let start = self.catalog_version().await.ok();
        poll_catalog_version(self, &changed, &stop, poll, start).await;
    }
}

async fn create_agent_in<'e, E>(ex: E, new: &NewAgent) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    one(
        ex,
        query(shared::INSERT_AGENT)
            .bind(Uuid::new_v4().to_string())
            .bind(&new.name)
            .bind(&new.tool_name)
            .bind(&new.description)
            .bind(new.engine_type.as_str())
            .bind(&new.engine_flow_id)
            .bind(json_text(&new.input_schema))
            .bind(json_text(&schema_order::record(&new.input_schema)))
            .bind(
                serde_json::to_string(&new.required_credential_types)
                    .unwrap_or_else(|_| "[]".into()),
            )
            .bind(decimal_text(new.price_one_time))
            .bind(decimal_text(new.price_monthly))
            .bind(new.credits_per_call)
            .bind(new.status.as_str())
            .bind(json_text(&new.engine_config))
            .bind(new.timeout_ms)
            .bind(i64::from(new.charge_failed_calls))
            .bind(new.task_mode.as_str()),
        row::agent,
    )
    .await
}

async fn update_agent_in<'e, E>(ex: E, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let mut q =
        QueryBuilder::<sqlx::Sqlite>::new(concat!("UPDATE agents SET updated_at = ", now!()));
    if let Some(v) = &patch.name {
        q.push(", name = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.tool_name {
        q.push(", tool_name = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.description {
        q.push(", description = ").push_bind(v.clone());
    }
    if let Some(v) = patch.engine_type {
        q.push(", engine_type = ").push_bind(v.as_str());
    }
    if let Some(v) = &patch.engine_flow_id {
        q.push(", engine_flow_id = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.input_schema {
        q.push(", input_schema = ").push_bind(json_text(v));
        q.push(", input_schema_order = ")
            .push_bind(json_text(&schema_order::record(v)));
    }
    if let Some(v) = &patch.required_credential_types {
        q.push(", required_credential_types = ")
            .push_bind(serde_json::to_string(v).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(v) = patch.price_one_time {
        q.push(", price_one_time = ").push_bind(decimal_text(v));
    }
    if let Some(v) = patch.price_monthly {
        q.push(", price_monthly = ").push_bind(decimal_text(v));
    }
    if let Some(v) = patch.credits_per_call {
        q.push(", credits_per_call = ").push_bind(v);
    }
    if let Some(v) = patch.status {
        q.push(", status = ").push_bind(v.as_str());
    }
    if let Some(v) = &patch.engine_config {
        q.push(", engine_config = ").push_bind(json_text(v));
    }
    if let Some(v) = patch.timeout_ms {
        q.push(", timeout_ms = ").push_bind(v);
    }
    if let Some(v) = patch.charge_failed_calls {
        q.push(", charge_failed_calls = ").push_bind(i64::from(v));
    }
    if let Some(v) = patch.task_mode {
        q.push(", task_mode = ").push_bind(v.as_str());
    }
    q.push(" WHERE id = ")
        .push_bind(id.to_string())
        .push(concat!(" RETURNING ", agent_cols!()));
    match q.build().fetch_optional(ex).await? {
        Some(row) => row::agent(&row),
        None => Err(StoreError::NotFound { entity: "agent" }),
    }
}
