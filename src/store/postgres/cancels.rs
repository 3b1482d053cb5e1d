//! Cancellations of detached calls on PostgreSQL.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{Row, query};
use uuid::Uuid;

use super::PgStore;
use crate::store::cancels as shared;
use crate::store::*;

#[async_trait]
impl CancelStore for PgStore {
    async fn request_cancel(
        &self,
        execution_log_id: Uuid,
        requested_by: &str,
    ) -> StoreResult<bool> {
        let done = query(shared::REQUEST_CANCEL)
            .bind(execution_log_id)
            .bind(requested_by)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cancels_requested(&self, execution_log_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if execution_log_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = query(
            "SELECT execution_log_id FROM call_cancellations WHERE execution_log_id = ANY($1)",
        )
        .bind(execution_log_ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<Uuid, _>("execution_log_id").map_err(Into::into))
            .collect()
    }

    async fn put_task_result(&self, execution_log_id: Uuid, result: &Value) -> StoreResult<()> {
        query(shared::PUT_TASK_RESULT)
            .bind(execution_log_id)
            .bind(result)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn task_result(&self, execution_log_id: Uuid) -> StoreResult<Option<Value>> {
        let row = query(shared::TASK_RESULT)
            .bind(execution_log_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<Value, _>("result").map_err(Into::into))
            .transpose()
    }
}
