//! Marketplace events on SQLite: the event's row and its change in one
//! `BEGIN IMMEDIATE` transaction (the single writer serializes deliveries).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{query, query_scalar};
use uuid::Uuid;

use super::{SqliteStore, decimal_text, ts};
use crate::store::marketplace as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl MarketplaceStore for SqliteStore {
    async fn apply_marketplace_event(
        &self,
        id: &str,
        kind: &str,
        change: &MarketplaceChange,
        outcome: for<'e> fn(&'e MarketplaceEffect) -> Value,
    ) -> StoreResult<EventApplication> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let inserted: Option<String> = query_scalar(shared::INSERT_EVENT)
            .bind(id)
            .bind(kind)
            .bind(change.user_id().to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_none() {
            let q = query(shared::EVENT_BY_ID).bind(id);
            let found = optional(&mut *tx, q, row::marketplace_event).await?;
            drop(tx);
            return match found {
                Some(event) => Ok(EventApplication::Replayed(event)),
                None => Err(StoreError::NotFound {
                    entity: "marketplace event",
                }),
            };
        }
        let effect = match change {
            MarketplaceChange::Grant(new) => {
                let q = query(crate::store::billing::INSERT_ENTITLEMENT)
                    .bind(Uuid::new_v4().to_string())
                    .bind(new.user_id.to_string())
                    .bind(new.agent_id.to_string())
                    .bind(new.kind.as_str())
                    .bind(ts(new.starts_at))
                    .bind(new.expires_at.map(ts))
                    .bind(&new.reference)
                    .bind(decimal_text(new.price));
                let granted = one(&mut *tx, q, row::entitlement).await?;
                if new.join_toolbox {
                    query(crate::store::toolbox::JOIN_ON_FIRST_PURCHASE)
                        .bind(granted.id.to_string())
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
                    "UPDATE entitlements SET revoked_at = ",
                    now!(),
                    " WHERE user_id = $1 AND agent_id = $2 AND reference = $3 \
                     AND revoked_at IS NULL RETURNING ",
                    entitlement_cols!()
                ))
                .bind(user_id.to_string())
                .bind(agent_id.to_string())
                .bind(reference);
                let revoked = all(&mut *tx, q, row::entitlement).await?;
                if revoked.is_empty() {
                    let known: i64 = query_scalar(shared::COUNT_BY_REFERENCE)
                        .bind(user_id.to_string())
                        .bind(agent_id.to_string())
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
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                // BEGIN IMMEDIATE holds the write lock: the balance cannot change.
                let q = query(crate::store::journal::CREDIT_ACCOUNT).bind(user_id.to_string());
                let account = one(&mut *tx, q, row::credit_account).await?;
                let balance = account.balance.saturating_add(*amount);
                if balance < account.reserved {
                    return Err(StoreError::InsufficientCredits {
                        available: account.available(),
                    });
                }
                query(concat!(
                    "UPDATE credit_accounts SET balance = $2, updated_at = ",
                    now!(),
                    " WHERE user_id = $1"
                ))
                .bind(user_id.to_string())
                .bind(balance)
                .execute(&mut *tx)
                .await?;
                let q = query(crate::store::journal::INSERT_LEDGER_ENTRY)
                    .bind(Uuid::now_v7().to_string())
                    .bind(user_id.to_string())
                    .bind(amount)
                    .bind(reason)
                    .bind(balance);
                MarketplaceEffect::Credited(one(&mut *tx, q, row::ledger).await?)
            }
        };
        let q = query(shared::SET_OUTCOME)
            .bind(id)
            .bind(outcome(&effect).to_string());
        let event = one(&mut *tx, q, row::marketplace_event).await?;
        tx.commit().await?;
        Ok(EventApplication::Applied(effect, event))
    }

    async fn get_marketplace_event(&self, id: &str) -> StoreResult<Option<MarketplaceEventRow>> {
        let q = query(shared::EVENT_BY_ID).bind(id);
        optional(&self.reader, q, row::marketplace_event).await
    }
}
