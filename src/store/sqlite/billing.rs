//! Entitlements and billing samples on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query;
use uuid::Uuid;

use super::{SqliteStore, decimal_text, ts};
use crate::store::billing as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl BillingStore for SqliteStore {
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        let q = query(shared::INSERT_ENTITLEMENT)
            .bind(Uuid::new_v4().to_string())
            .bind(new.user_id.to_string())
            .bind(new.agent_id.to_string())
            .bind(new.kind.as_str())
            .bind(ts(new.starts_at))
            .bind(new.expires_at.map(ts))
            .bind(&new.reference)
            .bind(decimal_text(new.price));
        let mut tx = self.writer.begin().await?;
        let created = one(&mut *tx, q, row::entitlement).await?;
        if new.join_toolbox {
            query(crate::store::toolbox::JOIN_ON_FIRST_PURCHASE)
                .bind(created.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        let q = query(shared::ENTITLEMENT_BY_ID).bind(id.to_string());
        optional(&self.reader, q, row::entitlement).await
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        let q = query(shared::ENTITLEMENTS_OF_USER).bind(user_id.to_string());
        all(&self.reader, q, row::entitlement).await
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = query(concat!(
            "UPDATE entitlements SET revoked_at = ",
            now!(),
            " WHERE id = $1 AND revoked_at IS NULL"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn watch_entitlements(
        &self,
        _changed: tokio::sync::mpsc::Sender<Option<Uuid>>,
        _stop: tokio_util::sync::CancellationToken,
    ) {
    }

    async fn revenue_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<RevenueSample>> {
        let q = query(shared::REVENUE).bind(ts(from)).bind(ts(to));
        all(&self.reader, q, row::revenue_sample).await
    }

    async fn usage_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageSample>> {
        let q = query(shared::USAGE).bind(ts(from)).bind(ts(to));
        all(&self.reader, q, row::usage_sample).await
    }
}
