//! The audit log of changes made through the admin API.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AuditEntry, NewAuditEntry, StoreResult};

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry>;
    /// Newest first, before the (created_at, id) cursor.
    async fn list_audit(
        &self,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
}
