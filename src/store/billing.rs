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
