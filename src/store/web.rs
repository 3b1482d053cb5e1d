//! The web app's browser sessions, the uses of connect links, and the
//! drafts of its forms.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{FormDraft, StoreResult, WebSession};

#[async_trait]
pub trait WebStore: Send + Sync {
    /// Record a new session (the cookie's hash, never its value).
    async fn create_web_session(&self, session: &WebSession) -> StoreResult<()>;
    /// The session with this token hash, if it has not expired at `now`.
    async fn web_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebSession>>;
    /// Sign out: `false` if there was no such session.
    async fn delete_web_session(&self, token_hash: &str) -> StoreResult<bool>;
    /// Record a connect link's use: `true` the first time, `false` when it
    /// was used before (the link is single-use).
    async fn use_connect_link(
        &self,
        link_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Whether a connect link has been used.
    async fn connect_link_used(&self, link_id: Uuid) -> StoreResult<bool>;
    /// Keep a form as it was sent (replacing none: ids are new).
    async fn put_form_draft(&self, draft: &FormDraft) -> StoreResult<()>;
    /// A user's draft, if it is theirs and has not expired at `now`.
    async fn form_draft(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FormDraft>>;
    /// Forget sessions, link uses and drafts that expired before `now`;
    /// how many.
    async fn purge_expired_web(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs and
// times as text, in one format, so that they compare as text).

pub(super) const INSERT_SESSION: &str = "INSERT INTO web_sessions (id, user_id, token_hash, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";
pub(super) const SESSION: &str = "SELECT id, user_id, token_hash, created_at, expires_at \
     FROM web_sessions WHERE token_hash = $1 AND expires_at > $2";
pub(super) const DELETE_SESSION: &str = "DELETE FROM web_sessions WHERE token_hash = $1";
pub(super) const USE_LINK: &str = "INSERT INTO connect_link_uses (link_id, user_id, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (link_id) DO NOTHING";
pub(super) const LINK_USED: &str = "SELECT link_id FROM connect_link_uses WHERE link_id = $1";
pub(super) const PURGE_SESSIONS: &str = "DELETE FROM web_sessions WHERE expires_at <= $1";
pub(super) const PURGE_LINKS: &str = "DELETE FROM connect_link_uses WHERE expires_at <= $1";
pub(super) const INSERT_DRAFT: &str = "INSERT INTO web_form_drafts (id, user_id, tool_name, data, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(super) const DRAFT: &str = "SELECT id, user_id, tool_name, data, created_at, expires_at \
     FROM web_form_drafts WHERE id = $1 AND user_id = $2 AND expires_at > $3";
pub(super) const PURGE_DRAFTS: &str = "DELETE FROM web_form_drafts WHERE expires_at <= $1";
