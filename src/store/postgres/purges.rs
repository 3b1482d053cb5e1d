//! Purge jobs of engine-side copies on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Row, query};
use uuid::Uuid;

use super::PgStore;
use crate::store::purges as shared;
use crate::store::sql::{all, optional};
use crate::store::*;

#[async_trait]
impl PurgeStore for PgStore {
    async fn schedule_purge(&self, new: &NewPurge) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        query(shared::INSERT_PURGE)
            .bind(new.execution_log_id)
            .bind(new.engine_type.as_str())
            .bind(&new.target)
            .bind(new.next_attempt_at)
            .execute(&mut *tx)
            .await?;
        query(shared::MARK_COPY)
            .bind(new.execution_log_id)
            .bind(EngineCopy::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_engine_copy_kept(&self, execution_log_id: Uuid) -> StoreResult<()> {
        query(shared::MARK_COPY)
            .bind(execution_log_id)
            .bind(EngineCopy::Kept.as_str())
            .execute(&self.pool)
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
            .bind(execution_log_id)
            .bind(target)
            .bind(due)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_purges(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Purge>> {
        let q = query(shared::DUE_PURGES).bind(now).bind(i64::from(limit));
        all(&self.pool, q, row::purge).await
    }

    async fn next_purge_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let row = query(shared::NEXT_DUE).fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<DateTime<Utc>>, _>("due")?)
    }

    async fn claim_purge(
        &self,
        execution_log_id: Uuid,
        attempts_seen: i32,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = query(shared::CLAIM_PURGE)
            .bind(execution_log_id)
            .bind(attempts_seen)
            .bind(lease_until)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_purge(&self, execution_log_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        query(shared::FINISH_PURGE)
            .bind(execution_log_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        query(shared::MARK_COPY)
            .bind(execution_log_id)
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
            .bind(execution_log_id)
            .bind(error)
            .bind(due)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_purge(&self, execution_log_id: Uuid) -> StoreResult<Option<Purge>> {
        let q = query(shared::PURGE_BY_ID).bind(execution_log_id);
        optional(&self.pool, q, row::purge).await
    }

    async fn wait_purge(
        &self,
        execution_log_id: Uuid,
        target: &Value,
        due: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(shared::WAIT_PURGE)
            .bind(execution_log_id)
            .bind(target)
            .bind(due)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn bring_forward_purges(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = query(shared::BRING_FORWARD)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
