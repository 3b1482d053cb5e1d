//! Users and their API keys.

use async_trait::async_trait;
use uuid::Uuid;

use super::{ApiKey, NewApiKey, NewUser, StoreResult, User, UserPatch};

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
}
