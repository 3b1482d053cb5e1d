//! Cancellations of detached calls on SQLite.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{Row, query};
use uuid::Uuid;

use super::SqliteStore;
use crate::store::cancels as shared;
use crate::store::*;

#[async_trait]
impl CancelStore for SqliteStore {
    async fn request_cancel(
        &self,
        execution_log_id: Uuid,
        requested_by: &str,
    ) -> StoreResult<bool> {
        let done = query(shared::REQUEST_CANCEL)
            .bind(execution_log_id.to_string())
            .bind(requested_by)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cancels_requested(&self, execution_log_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if execution_log_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = execution_log_ids.iter().map(Uuid::to_string).collect();
        let rows = query(
            "SELECT execution_log_id FROM call_cancellations \
             WHERE execution_log_id IN (SELECT value FROM json_each($1))",
        )
        .bind(serde_json::to_string(&ids).map_err(|e| StoreError::corrupt(e.to_string()))?)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("execution_log_id")?;
                Uuid::parse_str(&id).map_err(|e| StoreError::corrupt(e.to_string()))
            })
            .collect()
    }

    async fn put_task_result(&self, execution_log_id: Uuid, result: &Value) -> StoreResult<()> {
        query(shared::PUT_TASK_RESULT)
            .bind(execution_log_id.to_string())
            .bind(result.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn task_result(&self, execution_log_id: Uuid) -> StoreResult<Option<Value>> {
        let row = query(shared::TASK_RESULT)
            .bind(execution_log_id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| {
            let text: String = r.try_get("result")?;
            serde_json::from_str(&text).map_err(|e| StoreError::corrupt(e.to_string()))
        })
        .transpose()
    }
}
