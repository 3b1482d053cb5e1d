//! Web sessions, connect-link uses and form drafts on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query;
use uuid::Uuid;

use super::PgStore;
use crate::store::sql::optional;
use crate::store::web as shared;
use crate::store::*;

#[async_trait]
impl WebStore for PgStore {
    async fn create_web_session(&self, session: &WebSession) -> StoreResult<()> {
        query(shared::INSERT_SESSION)
            .bind(session.id)
            .bind(session.user_id)
            .bind(&session.token_hash)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn web_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebSession>> {
        let q = query(shared::SESSION).bind(token_hash).bind(now);
        optional(&self.pool, q, row::web_session).await
    }

    async fn delete_web_session(&self, token_hash: &str) -> StoreResult<bool> {
        let done = query(shared::DELETE_SESSION)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn use_connect_link(
        &self,
        link_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = query(shared::USE_LINK)
            .bind(link_id)
            .bind(user_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn connect_link_used(&self, link_id: Uuid) -> StoreResult<bool> {
        let q = query(shared::LINK_USED).bind(link_id);
        Ok(optional(&self.pool, q, |_| Ok(())).await?.is_some())
    }

    async fn put_form_draft(&self, draft: &FormDraft) -> StoreResult<()> {
        query(shared::INSERT_DRAFT)
            .bind(draft.id)
            .bind(draft.user_id)
            .bind(&draft.tool_name)
            .bind(&draft.data)
            .bind(draft.created_at)
            .bind(draft.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn form_draft(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FormDraft>> {
        let q = query(shared::DRAFT).bind(id).bind(user_id).bind(now);
        optional(&self.pool, q, row::form_draft).await
    }

    async fn purge_expired_web(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let sessions = query(shared::PURGE_SESSIONS)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let links = query(shared::PURGE_LINKS)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let drafts = query(shared::PURGE_DRAFTS)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(sessions.rows_affected() + links.rows_affected() + drafts.rows_affected())
    }
}
