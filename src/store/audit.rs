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

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs and
// JSON as text).

pub(super) const INSERT_AUDIT: &str = concat!(
    "INSERT INTO audit_log (id, actor_user_id, actor, action, target_type, target_id, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    audit_cols!()
);
/// Followed by the keyset page (see each backend's `newest_first`).
pub(super) const AUDIT: &str = concat!("SELECT ", audit_cols!(), " FROM audit_log WHERE TRUE");
