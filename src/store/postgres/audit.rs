//! The admin audit log on PostgreSQL.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::PgStore;
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl AuditStore for PgStore {
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        one(&self.pool, sqlx::query(concat!(
            "INSERT INTO audit_log (id, actor_user_id, actor, action, target_type, target_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            audit_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(entry.actor_user_id)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(&entry.details), row::audit).await
    }

    async fn list_audit(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log WHERE TRUE"
        ));
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        all(&self.pool, q.build(), row::audit).await
    }
}
