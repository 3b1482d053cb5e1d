//! The Vault's rows: users' sealed credentials and the registered master-key
//! versions. Only ciphertext passes here; see `crate::vault`.

use async_trait::async_trait;
use uuid::Uuid;

use super::{CredentialRow, ResealedCredential, StoreResult, VaultKeyRow};

#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Insert, or replace the row for (user_id, provider, key_name) — id included,
    /// since the id is bound into the ciphertext — atomically.
    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow>;
    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>>;
    async fn delete_credential(
        &self,
        user_id: Uuid,
        provider: &str,
        key_name: &str,
    ) -> StoreResult<bool>;

    /// `(key_version, rows)` ascending.
    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>>;
    /// Credentials whose key version is not `version`, by id, after `after`.
    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>>;
    /// Apply re-sealed values in one transaction; returns rows updated.
    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64>;

    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>>;
    /// Insert a key version; a [`super::StoreError::UniqueViolation`] if the
    /// version or fingerprint is taken.
    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()>;
}
