//! Entitlements and billing samples on PostgreSQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::PgStore;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl BillingStore for PgStore {
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        one(&self.pool, sqlx::query(concat!(
            "INSERT INTO entitlements (id, user_id, agent_id, kind, starts_at, expires_at, reference, price) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            entitlement_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(new.user_id)
        .bind(new.agent_id)
        .bind(new.kind.as_str())
        .bind(new.starts_at)
        .bind(new.expires_at)
        .bind(&new.reference)
        .bind(new.price), row::entitlement).await
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        optional(
            &self.pool,
            sqlx::query(concat!(
                "SELECT ",
                entitlement_cols!(),
                " FROM entitlements WHERE id = $1"
            ))
            .bind(id),
            row::entitlement,
        )
        .await
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        all(
            &self.pool,
            sqlx::query(concat!(
                "SELECT ",
                entitlement_cols!(),
                " FROM entitlements WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
            ))
            .bind(user_id),
            row::entitlement,
        )
        .await
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE entitlements SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revenue_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<RevenueSample>> {
        all(
            &self.pool,
            sqlx::query(
                "SELECT user_id, agent_id, created_at, price FROM entitlements \
             WHERE price IS NOT NULL AND created_at >= $1 AND created_at < $2",
            )
            .bind(from)
            .bind(to),
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
            &self.pool,
            sqlx::query(
                "SELECT user_id, agent_id, created_at, status, duration_ms, credits_consumed \
             FROM execution_logs WHERE created_at >= $1 AND created_at < $2 \
             AND status IN ('success', 'failed')",
            )
            .bind(from)
            .bind(to),
            row::usage_sample,
        )
        .await
    }
}
