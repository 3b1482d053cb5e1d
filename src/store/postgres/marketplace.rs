//! Marketplace events on PostgreSQL: the event's row and its change in one
//! transaction; a concurrent delivery of the same id waits on the primary
//! key for the first to commit, then finds it.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{query, query_scalar};
use uuid::Uuid;

use super::PgStore;
use crate::store::marketplace as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl MarketplaceStore for PgStore {
    async fn apply_marketplace_event(
        &self,
        id: &str,
        kind: &str,
        change: &MarketplaceChange,
        outcome: for<'e> fn(&'e MarketplaceEffect) -> Value,
    ) -> StoreResult<EventApplication> {
        let mut tx = self.pool.begin().await?;
        let inserted: Option<String> = query_scalar(shared::INSERT_EVENT)
            .bind(id)
            .bind(kind)
            .bind(change.user_id())
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_none() {
            drop(tx);
            return match self.get_marketplace_event(id).await? {
                Some(event) => Ok(EventApplication::Replayed(event)),
                None => Err(StoreError::NotFound {
                    entity: "marketplace event",
                }),
            };
        }
        let effect = match change {
            MarketplaceChange::Grant(new) => {
                let q = query(crate::store::billing::INSERT_ENTITLEMENT)
                    .bind(Uuid::new_v4())
                    .bind(new.user_id)
                    .bind(new.agent_id)
                    .bind(new.kind.as_str())
                    .bind(new.starts_at)
                    .bind(new.expires_at)
                    .bind(&new.reference)
                    .bind(new.price);
                let granted = one(&mut *tx, q, row::entitlement).await?;
                if new.join_toolbox {
                    query(crate::store::toolbox::JOIN_ON_FIRST_PURCHASE)
                        .bind(granted.id)
                        .execute(&mut *tx)
                        .await?;
                }
                MarketplaceEffect::Granted(granted)
            }
            MarketplaceChange::Revoke {
                user_id,
                agent_id,
                reference,
            } => {
                let q = query(concat!(
                    "UPDATE entitlements SET revoked_at = NOW() WHERE user_id = $1 AND agent_id = $2 \
                     AND reference = $3 AND revoked_at IS NULL RETURNING ",
                    entitlement_cols!()
                ))
                .bind(user_id)
                .bind(agent_id)
                .bind(reference);
                let revoked = all(&mut *tx, q, row::entitlement).await?;
                if revoked.is_empty() {
                    let known: i64 = query_scalar(shared::COUNT_BY_REFERENCE)
                        .bind(user_id)
                        .bind(agent_id)
                        .bind(reference)
                        .fetch_one(&mut *tx)
                        .await?;
                    if known == 0 {
                        return Err(StoreError::NotFound {
                            entity: "entitlement with that reference",
                        });
                    }
                }
                MarketplaceEffect::Revoked(revoked)
            }
            MarketplaceChange::Credit {
                user_id,
                amount,
                reason,
            } => {
                query(crate::store::journal::ENSURE_CREDIT_ACCOUNT)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let q = query(
                    "SELECT balance, reserved FROM credit_accounts WHERE user_id = $1 FOR UPDATE",
                )
                .bind(user_id);
                let account = one(&mut *tx, q, row::credit_account).await?;
                let balance = account.balance.saturating_add(*amount);
                if balance < account.reserved {
                    return Err(StoreError::InsufficientCredits {
                        available: account.available(),
                    });
                }
                query(
                    "UPDATE credit_accounts SET balance = $2, updated_at = NOW() WHERE user_id = $1",
                )
                .bind(user_id)
                .bind(balance)
                .execute(&mut *tx)
                .await?;
                let q = query(crate::store::journal::INSERT_LEDGER_ENTRY)
                    .bind(Uuid::now_v7())
                    .bind(user_id)
                    .bind(amount)
                    .bind(reason)
                    .bind(balance);
                MarketplaceEffect::Credited(one(&mut *tx, q, row::ledger).await?)
            }
        };
        let q = query(shared::SET_OUTCOME).bind(id).bind(outcome(&effect));
        let event = one(&mut *tx, q, row::marketplace_event).await?;
        tx.commit().await?;
        Ok(EventApplication::Applied(effect, event))
    }

    async fn get_marketplace_event(&self, id: &str) -> StoreResult<Option<MarketplaceEventRow>> {
        let q = query(shared::EVENT_BY_ID).bind(id);
        optional(&self.pool, q, row::marketplace_event).await
    }
}
