//! The admin audit log on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, query};
use uuid::Uuid;

use super::{SqliteStore, json_text, newest_first};
use crate::store::audit as shared;
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let q = query(shared::INSERT_AUDIT)
            .bind(Uuid::new_v4().to_string())
            .bind(entry.actor_user_id.map(|u| u.to_string()))
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target_type)
            .bind(&entry.target_id)
            .bind(json_text(&entry.details));
        one(&self.writer, q, row::audit).await
    }

    async fn list_audit(
        &self,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::new(shared::AUDIT);
        newest_first(&mut q, before, Some(limit));
        all(&self.reader, q.build(), row::audit).await
    }
}
