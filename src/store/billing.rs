//! Entitlements to priced agents, and the samples billing reports are made of.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Entitlement, NewEntitlement, RevenueSample, StoreResult, UsageSample};

#[async_trait]
pub trait BillingStore: Send + Sync {
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement>;
    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>>;
    /// All of a user's entitlements (active or not), newest first.
    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>>;
    /// `false` if it does not exist or was already revoked.
    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool>;
    /// Send a user's id on `changed` whenever any process changes that
    /// user's entitlements, until `stop` is cancelled, and `None` after
    /// (re)connecting (changes made meanwhile were missed). PostgreSQL:
    /// LISTEN/NOTIFY (a trigger on `entitlements`); SQLite serves one
    /// process, which invalidates its own cache: nothing to watch.
    async fn watch_entitlements(
        &self,
        changed: tokio::sync::mpsc::Sender<Option<Uuid>>,
        stop: tokio_util::sync::CancellationToken,
    );
    /// Entitlements with a price created in `[from, to)`.
    async fn revenue_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<RevenueSample>>;
    /// Finished calls created in `[from, to)`.
    async fn usage_samples(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageSample>>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs,
// timestamps and decimals as text).

pub(super) const INSERT_ENTITLEMENT: &str = concat!(
    "INSERT INTO entitlements (id, user_id, agent_id, kind, starts_at, expires_at, reference, \
     price) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
    entitlement_cols!()
);
pub(super) const ENTITLEMENT_BY_ID: &str = concat!(
    "SELECT ",
    entitlement_cols!(),
    " FROM entitlements WHERE id = $1"
);
pub(super) const ENTITLEMENTS_OF_USER: &str = concat!(
    "SELECT ",
    entitlement_cols!(),
    " FROM entitlements WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
);
pub(super) const REVENUE: &str = "SELECT user_id, agent_id, created_at, price FROM entitlements \
     WHERE price IS NOT NULL AND created_at >= $1 AND created_at < $2";
pub(super) const USAGE: &str = "SELECT user_id, agent_id, created_at, status, duration_ms, \
     credits_consumed FROM execution_logs WHERE created_at >= $1 AND created_at < $2 \
     AND status IN ('success', 'failed')";
