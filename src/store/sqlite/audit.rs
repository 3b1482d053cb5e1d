//! The admin audit log on SQLite.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{SqliteStore, json_text, ts};
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        one(&self.writer, sqlx::query(concat!(
            "INSERT INTO audit_log (id, actor_user_id, actor, action, target_type, target_id, details) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            audit_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(entry.actor_user_id.map(|u| u.to_string()))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(json_text(&entry.details)), row::audit).await
    }

    async fn list_audit(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log WHERE 1"
        ));
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(ts(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        all(&self.reader, q.build(), row::audit).await
    }
}
