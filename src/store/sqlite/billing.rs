//! Entitlements and billing samples on SQLite.

use async_trait::async_trait;
use uuid::Uuid;

use super::{SqliteStore, decimal_text, ts};
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl BillingStore for SqliteStore {
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        one(&self.writer, sqlx::query(concat!(
            "INSERT INTO entitlements (id, user_id, agent_id, kind, starts_at, expires_at, reference, price) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            entitlement_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.user_id.to_string())
        .bind(new.agent_id.to_string())
        .bind(new.kind.as_str())
        .bind(ts(new.starts_at))
        .bind(new.expires_at.map(ts))
        .bind(&new.reference)
        .bind(decimal_text(new.price)), row::entitlement).await
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        optional(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                entitlement_cols!(),
                " FROM entitlements WHERE id = ?"
            ))
            .bind(id.to_string()),
            row::entitlement,
        )
        .await
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                entitlement_cols!(),
                " FROM entitlements WHERE user_id = ? ORDER BY created_at DESC, id DESC"
            ))
            .bind(user_id.to_string()),
            row::entitlement,
        )
        .await
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE entitlements SET revoked_at = ",
            now!(),
            " WHERE id = ? AND revoked_at IS NULL"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revenue_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<RevenueSample>> {
        all(
            &self.reader,
            sqlx::query(
                "SELECT user_id, agent_id, created_at, price FROM entitlements \
             WHERE price IS NOT NULL AND created_at >= ? AND created_at < ?",
            )
            .bind(ts(from))
            .bind(ts(to)),
            row::revenue_sample,
        )
        .await
    }

    async fn usage_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<UsageSample>> {
        all(
            &self.reader,
            sqlx::query(
                "SELECT user_id, agent_id, created_at, status, duration_ms, credits_consumed \
             FROM execution_logs WHERE created_at >= ? AND created_at < ? \
             AND status IN ('success', 'failed')",
            )
            .bind(ts(from))
            .bind(ts(to)),
            row::usage_sample,
        )
        .await
    }
}
