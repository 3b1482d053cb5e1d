//! Sealed credentials and master-key versions on SQLite.

use async_trait::async_trait;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl VaultStore for SqliteStore {
    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        one(&self.writer, sqlx::query(concat!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv, key_version) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, provider, key_name) DO UPDATE SET \
             id = excluded.id, encrypted_value = excluded.encrypted_value, iv = excluded.iv, \
             key_version = excluded.key_version, updated_at = ",
            now!(),
            " RETURNING ",
            credential_cols!()
        ))
        .bind(row.id.to_string())
        .bind(row.user_id.to_string())
        .bind(&row.provider)
        .bind(&row.key_name)
        .bind(&row.encrypted_value)
        .bind(&row.iv)
        .bind(row.key_version), row::credential).await
    }

    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                credential_cols!(),
                " FROM credentials WHERE user_id = ? ORDER BY provider, key_name"
            ))
            .bind(user_id.to_string()),
            row::credential,
        )
        .await
    }

    async fn delete_credential(
        &self,
        user_id: Uuid,
        provider: &str,
        key_name: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM credentials WHERE user_id = ? AND provider = ? AND key_name = ?",
        )
        .bind(user_id.to_string())
        .bind(provider)
        .bind(key_name)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>> {
        all(&self.reader, sqlx::query(
            "SELECT key_version, count(*) AS n FROM credentials GROUP BY key_version ORDER BY key_version",
        ), row::key_version_count).await
    }

    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>> {
        all(&self.reader, sqlx::query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE key_version <> ? AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?"
        ))
        .bind(version)
        .bind(after.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(i64::from(limit)), row::credential).await
    }

    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let mut updated = 0;
        for row in rows {
            let done = sqlx::query(
                "UPDATE credentials SET encrypted_value = ?, iv = ?, key_version = ? WHERE id = ? AND iv = ?",
            )
            .bind(&row.encrypted_value)
            .bind(&row.iv)
            .bind(row.key_version)
            .bind(row.id.to_string())
            .bind(&row.old_iv)
            .execute(&mut *tx)
            .await?;
            updated += done.rows_affected();
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>> {
        all(&self.reader, sqlx::query(
            "SELECT key_version, key_fingerprint, canary, canary_iv, created_at FROM vault_meta ORDER BY key_version",
        ), row::vault_key).await
    }

    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vault_meta (key_version, key_fingerprint, canary, canary_iv) VALUES (?, ?, ?, ?)",
        )
        .bind(row.key_version)
        .bind(&row.key_fingerprint)
        .bind(&row.canary)
        .bind(&row.canary_iv)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
