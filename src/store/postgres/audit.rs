//! The admin audit log on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, query};
use uuid::Uuid;

use super::{PgStore, newest_first};
use crate::store::audit as shared;
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl AuditStore for PgStore {
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let q = query(shared::INSERT_AUDIT)
            .bind(Uuid::new_v4())
            .bind(entry.actor_user_id)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target_type)
            .bind(&entry.target_id)
            .bind(&entry.details);
        one(&self.pool, q, row::audit).await
    }

    async fn list_audit(
        &self,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::new(shared::AUDIT);
        newest_first(&mut q, before, Some(limit));
        all(&self.pool, q.build(), row::audit).await
    }
}
