//! Purge jobs of engine-side copies on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Row, query};
use uuid::Uuid;

use super::{SqliteStore, json_text, ts};
use crate::store::purges as shared;
use crate::store::sql::{all, optional};
use crate::store::*;

#[async_trait]
impl PurgeStore for SqliteStore {
    async fn schedule_purge(&self, new: &NewPurge) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        query(shared::INSERT_PURGE)
            .bind(new.execution_log_id.to_string())
            .bind(new.engine_type.as_str())
            .bind(json_text(&new.target))
            .bind(ts(new.next_attempt_at))
            .execute(&mut *tx)
            .await?;
        query(shared::MARK_COPY)
            .bind(new.execution_log_id.to_string())
            .bind(EngineCopy::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_engine_copy_kept(&self, execution_log_id: Uuid) -> StoreResult<()> {
        query(shared::MARK_COPY)
            .bind(execution_log_id.to_string())
            .bind(EngineCopy::Kept.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn update_purge(
        &self,
        execution_log_id: Uuid,
        target: &Value,
        due: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(shared::UPDATE_PURGE)
            .bind(execution_log_id.to_string())
            .bind(json_text(target))
            .bind(ts(due))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn due_purges(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Purge>> {
        let q = query(shared::DUE_PURGES)
            .bind(ts(now))
            .bind(i64::from(limit));
        all(&self.reader, q, row::purge).await
    }

    async fn next_purge_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let row = query(shared::NEXT_DUE).fetch_one(&self.reader).await?;
        row.try_get::<Option<String>, _>("due")?
            .as_deref()
            .map(row::parse_ts)
            .transpose()
    }

    async fn claim_purge(
        &self,
        execution_log_id: Uuid,
        attempts_seen: i32,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = query(shared::CLAIM_PURGE)
            .bind(execution_log_id.to_string())
            .bind(attempts_seen)
            .bind(ts(lease_until))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_purge(&self, execution_log_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        query(shared::FINISH_PURGE)
            .bind(execution_log_id.to_string())
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        query(shared::MARK_COPY)
            .bind(execution_log_id.to_string())
            .bind(EngineCopy::Purged.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retry_purge(
        &self,
        execution_log_id: Uuid,
        error: &str,
        due: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(shared::RETRY_PURGE)
            .bind(execution_log_id.to_string())
            .bind(error)
            .bind(ts(due))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn get_purge(&self, execution_log_id: Uuid) -> StoreResult<Option<Purge>> {
        let q = query(shared::PURGE_BY_ID).bind(execution_log_id.to_string());
        optional(&self.reader, q, row::purge).await
    }

    async fn wait_purge(
        &self,
        execution_log_id: Uuid,
        target: &Value,
        due: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(shared::WAIT_PURGE)
            .bind(execution_log_id.to_string())
            .bind(json_text(target))
            .bind(ts(due))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn bring_forward_purges(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = query(shared::BRING_FORWARD)
            .bind(ts(now))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}
