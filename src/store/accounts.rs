//! Users and their API keys.

use async_trait::async_trait;
use uuid::Uuid;

use super::{ApiKey, Identity, NewApiKey, NewIdentity, NewUser, StoreResult, User, UserPatch};

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// A new user with a credit account holding `initial_credits` (and the
    /// `signup` ledger entry when there are any), in one transaction.
    async fn create_user(&self, new: &NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Users ordered by email, after `after_email`.
    async fn list_users_page(
        &self,
        after_email: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User>;

    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey>;
    /// The live (not revoked) key with this hash, and its user.
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>>;
    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>>;
    /// Keys (revoked or not) whose display prefix is this.
    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>>;
    /// Mark a key revoked; `false` if it was not found or already revoked.
    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()>;

    /// The user an OAuth identity (issuer, subject) belongs to.
    async fn user_by_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>>;
    /// Link an identity to a user: `false` when the identity is linked
    /// already (to whichever user: the first link wins). A link clears the
    /// identity's unlinked mark.
    async fn link_identity(&self, identity: &NewIdentity) -> StoreResult<bool>;
    /// Whether an admin unlinked this identity (and nobody linked it since):
    /// such an identity is not linked again automatically.
    async fn identity_unlinked(&self, issuer: &str, subject: &str) -> StoreResult<bool>;
    /// A user's identities, oldest first.
    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<Identity>>;
    /// Unlink, and mark the identity unlinked: `false` when the user has no
    /// such identity.
    async fn unlink_identity(
        &self,
        user_id: Uuid,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<bool>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs as text).

pub(super) const INSERT_USER: &str = concat!(
    "INSERT INTO users (id, email, display_name, role, plan) VALUES ($1, $2, $3, $4, $5) RETURNING ",
    user_cols!()
);
pub(super) const INSERT_CREDIT_ACCOUNT: &str =
    "INSERT INTO credit_accounts (user_id, balance) VALUES ($1, $2)";
pub(super) const INSERT_SIGNUP_CREDITS: &str = "INSERT INTO credit_ledger \
     (id, user_id, delta, reason, balance_after) VALUES ($1, $2, $3, 'signup', $3)";
pub(super) const USER_BY_ID: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
pub(super) const USER_BY_EMAIL: &str =
    concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1");
pub(super) const USERS: &str = concat!("SELECT ", user_cols!(), " FROM users ORDER BY email");
pub(super) const USERS_AFTER: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE (CAST($1 AS TEXT) IS NULL OR email > $1) ORDER BY email LIMIT $2"
);
pub(super) const INSERT_API_KEY: &str = concat!(
    "INSERT INTO api_keys (id, user_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4, $5) RETURNING ",
    api_key_cols!()
);
pub(super) const LIVE_KEY_WITH_USER: &str = "SELECT k.id AS k_id, k.user_id, k.name, k.prefix, \
     k.created_at AS k_created_at, k.last_used_at, k.revoked_at, u.id, u.email, u.display_name, \
     u.role, u.plan, u.created_at, u.disabled_at \
     FROM api_keys k JOIN users u ON u.id = k.user_id \
     WHERE k.key_hash = $1 AND k.revoked_at IS NULL";
pub(super) const USER_BY_IDENTITY: &str = "SELECT u.id, u.email, u.display_name, u.role, u.plan, \
     u.created_at, u.disabled_at FROM user_identities i JOIN users u ON u.id = i.user_id \
     WHERE i.issuer = $1 AND i.subject = $2";
pub(super) const LINK_IDENTITY: &str = "INSERT INTO user_identities (issuer, subject, user_id, email) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING";
pub(super) const IDENTITIES_OF_USER: &str = "SELECT issuer, subject, user_id, email, created_at \
     FROM user_identities WHERE user_id = $1 ORDER BY created_at, issuer, subject";
pub(super) const UNLINK_IDENTITY: &str =
    "DELETE FROM user_identities WHERE user_id = $1 AND issuer = $2 AND subject = $3";
pub(super) const MARK_UNLINKED: &str = "INSERT INTO unlinked_identities (issuer, subject) \
     VALUES ($1, $2) ON CONFLICT (issuer, subject) DO NOTHING";
pub(super) const CLEAR_UNLINKED: &str =
    "DELETE FROM unlinked_identities WHERE issuer = $1 AND subject = $2";
pub(super) const IS_UNLINKED: &str =
    "SELECT 1 FROM unlinked_identities WHERE issuer = $1 AND subject = $2";
pub(super) const API_KEY_BY_ID: &str =
    concat!("SELECT ", api_key_cols!(), " FROM api_keys WHERE id = $1");
pub(super) const API_KEYS_OF_USER: &str = concat!(
    "SELECT ",
    api_key_cols!(),
    " FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
);
pub(super) const API_KEYS_BY_PREFIX: &str = concat!(
    "SELECT ",
    api_key_cols!(),
    " FROM api_keys WHERE prefix = $1 ORDER BY created_at, id"
);
