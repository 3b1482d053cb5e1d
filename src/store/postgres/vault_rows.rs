//! Sealed credentials and master-key versions on PostgreSQL.

use async_trait::async_trait;
use uuid::Uuid;

use super::PgStore;
use crate::store::sql::{all, one};
use crate::store::*;

#[async_trait]
impl VaultStore for PgStore {
    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        one(&self.pool, sqlx::query(concat!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv, key_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, provider, key_name) DO UPDATE SET \
             id = EXCLUDED.id, encrypted_value = EXCLUDED.encrypted_value, iv = EXCLUDED.iv, \
             key_version = EXCLUDED.key_version, updated_at = NOW() \
             RETURNING ",
            credential_cols!()
        ))
        .bind(row.id)
        .bind(row.user_id)
        .bind(&row.provider)
        .bind(&row.key_name)
        .bind(&row.encrypted_value)
        .bind(&row.iv)
        .bind(row.key_version), row::credential).await
    }

    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>> {
        all(
            &self.pool,
            sqlx::query(concat!(
                "SELECT ",
                credential_cols!(),
                " FROM credentials WHERE user_id = $1 ORDER BY provider, key_name"
            ))
            .bind(user_id),
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
            "DELETE FROM credentials WHERE user_id = $1 AND provider = $2 AND key_name = $3",
        )
        .bind(user_id)
        .bind(provider)
        .bind(key_name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>> {
        all(&self.pool, sqlx::query(
            "SELECT key_version, count(*) AS n FROM credentials GROUP BY key_version ORDER BY key_version",
        ), row::key_version_count).await
    }

    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>> {
        all(&self.pool, sqlx::query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE key_version <> $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(version)
        .bind(after)
        .bind(i64::from(limit)), row::credential).await
    }

    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut updated = 0;
        for row in rows {
            let done = sqlx::query(
                "UPDATE credentials SET encrypted_value = $1, iv = $2, key_version = $3 \
                 WHERE id = $4 AND iv = $5",
            )
            .bind(&row.encrypted_value)
            .bind(&row.iv)
            .bind(row.key_version)
            .bind(row.id)
            .bind(&row.old_iv)
            .execute(&mut *tx)
            .await?;
            updated += done.rows_affected();
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>> {
        all(&self.pool, sqlx::query(
            "SELECT key_version, key_fingerprint, canary, canary_iv, created_at FROM vault_meta ORDER BY key_version",
        ), row::vault_key).await
    }

    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vault_meta (key_version, key_fingerprint, canary, canary_iv) VALUES ($1, $2, $3, $4)",
        )
        .bind(row.key_version)
        .bind(&row.key_fingerprint)
        .bind(&row.canary)
        .bind(&row.canary_iv)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
