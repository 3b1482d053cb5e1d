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

    /// Send a user's id on `changed` whenever any process changes that
    /// user's credentials (`None`: anything may have changed, e.g. after a
    /// reconnect), until `stop` is cancelled. PostgreSQL: LISTEN/NOTIFY;
    /// SQLite returns at once (other processes' changes are seen within
    /// the row cache's time).
    async fn watch_credentials(
        &self,
        changed: tokio::sync::mpsc::Sender<Option<Uuid>>,
        stop: tokio_util::sync::CancellationToken,
    );

    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>>;
    /// Insert a key version; a [`super::StoreError::UniqueViolation`] if the
    /// version or fingerprint is taken.
    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs as text).

pub(super) const CREDENTIALS_OF_USER: &str = concat!(
    "SELECT ",
    credential_cols!(),
    " FROM credentials WHERE user_id = $1 ORDER BY provider, key_name"
);
pub(super) const DELETE_CREDENTIAL: &str =
    "DELETE FROM credentials WHERE user_id = $1 AND provider = $2 AND key_name = $3";
pub(super) const KEY_VERSION_COUNTS: &str = "SELECT key_version, count(*) AS n FROM credentials \
     GROUP BY key_version ORDER BY key_version";
/// Applies only while the row still holds the nonce it was read with.
pub(super) const RESEAL_CREDENTIAL: &str = "UPDATE credentials \
     SET encrypted_value = $1, iv = $2, key_version = $3 WHERE id = $4 AND iv = $5";
pub(super) const VAULT_KEYS: &str = "SELECT key_version, key_fingerprint, canary, canary_iv, \
     created_at FROM vault_meta ORDER BY key_version";
pub(super) const INSERT_VAULT_KEY: &str = "INSERT INTO vault_meta \
     (key_version, key_fingerprint, canary, canary_iv) VALUES ($1, $2, $3, $4)";
