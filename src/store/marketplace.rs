//! Marketplace events, applied exactly once: the event's row and the change
//! it causes (a grant, a revocation, a credit) commit in one transaction,
//! and a redelivered event finds its row and changes nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Entitlement, LedgerEntry, NewEntitlement, StoreResult};

/// The change an event makes, checked and resolved by the domain.
#[derive(Debug, Clone)]
pub enum MarketplaceChange {
    Grant(NewEntitlement),
    /// Revoke the user's live entitlements to the agent carrying `reference`.
    Revoke {
        user_id: Uuid,
        agent_id: Uuid,
        reference: String,
    },
    /// Add credits, with `reason` in the ledger.
    Credit {
        user_id: Uuid,
        amount: i64,
        reason: String,
    },
}

impl MarketplaceChange {
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::Grant(new) => new.user_id,
            Self::Revoke { user_id, .. } | Self::Credit { user_id, .. } => *user_id,
        }
    }
}

/// What a change did, inside its transaction.
#[derive(Debug, Clone)]
pub enum MarketplaceEffect {
    Granted(Entitlement),
    /// The entitlements revoked now (empty: the ones with that reference
    /// were revoked already).
    Revoked(Vec<Entitlement>),
    Credited(LedgerEntry),
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketplaceEventRow {
    pub id: String,
    pub kind: String,
    pub user_id: Uuid,
    pub outcome: Value,
    pub received_at: DateTime<Utc>,
}

/// What [`MarketplaceStore::apply_marketplace_event`] did.
#[derive(Debug, Clone)]
pub enum EventApplication {
    /// Applied now: the change's effect and the recorded event.
    Applied(MarketplaceEffect, MarketplaceEventRow),
    /// Applied before (a redelivery): the event as first recorded.
    Replayed(MarketplaceEventRow),
}

#[async_trait]
pub trait MarketplaceStore: Send + Sync {
    /// Record event `id` and apply `change`, in one transaction; `outcome`
    /// turns the effect into the outcome stored with the event. If the id
    /// is recorded already (concurrent deliveries wait for the first to
    /// commit), nothing changes and the recorded event is returned. A
    /// revocation that finds no entitlement with its reference is
    /// [`super::StoreError::NotFound`], a credit that would break the
    /// account's rules is refused as in `adjust_credits`: then nothing is
    /// recorded.
    async fn apply_marketplace_event(
        &self,
        id: &str,
        kind: &str,
        change: &MarketplaceChange,
        outcome: for<'e> fn(&'e MarketplaceEffect) -> Value,
    ) -> StoreResult<EventApplication>;
    async fn get_marketplace_event(&self, id: &str) -> StoreResult<Option<MarketplaceEventRow>>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs and
// JSON as text).

pub(super) const EVENT_BY_ID: &str =
    "SELECT id, type, user_id, outcome, received_at FROM marketplace_events WHERE id = $1";
pub(super) const INSERT_EVENT: &str = "INSERT INTO marketplace_events (id, type, user_id) \
     VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id";
pub(super) const SET_OUTCOME: &str = "UPDATE marketplace_events SET outcome = $2 WHERE id = $1 \
     RETURNING id, type, user_id, outcome, received_at";
pub(super) const COUNT_BY_REFERENCE: &str =
    "SELECT count(*) FROM entitlements WHERE user_id = $1 AND agent_id = $2 AND reference = $3";
