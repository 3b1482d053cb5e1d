//! Entitlements and billing samples on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query;
use uuid::Uuid;

use super::PgStore;
use crate::store::billing as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl BillingStore for PgStore {
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        let q = query(shared::INSERT_ENTITLEMENT)
            .bind(Uuid::new_v4())
            .bind(new.user_id)
            .bind(new.agent_id)
            .bind(new.kind.as_str())
            .bind(new.starts_at)
            .bind(new.expires_at)
            .bind(&new.reference)
            .bind(new.price);
        let mut tx = self.pool.begin().await?;
        let created = one(&mut *tx, q, row::entitlement).await?;
        if new.join_toolbox {
            query(crate::store::toolbox::JOIN_ON_FIRST_PURCHASE)
                .bind(created.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        let q = query(shared::ENTITLEMENT_BY_ID).bind(id);
        optional(&self.pool, q, row::entitlement).await
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        let q = query(shared::ENTITLEMENTS_OF_USER).bind(user_id);
        all(&self.pool, q, row::entitlement).await
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = query(
            "UPDATE entitlements SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn watch_entitlements(
        &self,
        changed: tokio::sync::mpsc::Sender<Option<Uuid>>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        self.listen("vieagent_entitlements", &stop, |payload| {
            let changed = changed.clone();
            async move {
                changed
                    .send(payload.and_then(|p| p.parse().ok()))
                    .await
                    .is_ok()
            }
        })
        .await;
    }

    async fn revenue_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<RevenueSample>> {
        let q = query(shared::REVENUE).bind(from).bind(to);
        all(&self.pool, q, row::revenue_sample).await
    }

    async fn usage_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageSample>> {
        let q = query(shared::USAGE).bind(from).bind(to);
        all(&self.pool, q, row::usage_sample).await
    }
}
