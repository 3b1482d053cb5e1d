//! Web sessions, connect-link uses and form drafts on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query;
use uuid::Uuid;

use super::{SqliteStore, json_text, ts};
use crate::store::sql::optional;
use crate::store::web as shared;
use crate::store::*;

#[async_trait]
impl WebStore for SqliteStore {
    async fn create_web_session(&self, session: &WebSession) -> StoreResult<()> {
        query(shared::INSERT_SESSION)
            .bind(session.id.to_string())
            .bind(session.user_id.to_string())
            .bind(&session.token_hash)
            .bind(ts(session.created_at))
            .bind(ts(session.expires_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn web_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebSession>> {
        let q = query(shared::SESSION).bind(token_hash).bind(ts(now));
        optional(&self.reader, q, row::web_session).await
    }

    async fn delete_web_session(&self, token_hash: &str) -> StoreResult<bool> {
        let done = query(shared::DELETE_SESSION)
            .bind(token_hash)
            .execute(&self.writer)
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
            .bind(link_id.to_string())
            .bind(user_id.to_string())
            .bind(ts(expires_at))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn connect_link_used(&self, link_id: Uuid) -> StoreResult<bool> {
        let q = query(shared::LINK_USED).bind(link_id.to_string());
        Ok(optional(&self.writer, q, |_| Ok(())).await?.is_some())
    }

    async fn put_form_draft(&self, draft: &FormDraft) -> StoreResult<()> {
        query(shared::INSERT_DRAFT)
            .bind(draft.id.to_string())
            .bind(draft.user_id.to_string())
            .bind(&draft.tool_name)
            .bind(json_text(&draft.data))
            .bind(ts(draft.created_at))
            .bind(ts(draft.expires_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn form_draft(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FormDraft>> {
        let q = query(shared::DRAFT)
            .bind(id.to_string())
            .bind(user_id.to_string())
            .bind(ts(now));
        optional(&self.reader, q, row::form_draft).await
    }

    async fn purge_expired_web(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let sessions = query(shared::PURGE_SESSIONS)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        let links = query(shared::PURGE_LINKS)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        let drafts = query(shared::PURGE_DRAFTS)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(sessions.rows_affected() + links.rows_affected() + drafts.rows_affected())
    }
}
