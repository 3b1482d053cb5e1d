//! Sealed credentials and master-key versions on PostgreSQL.

use async_trait::async_trait;
use sqlx::query;
use uuid::Uuid;

use super::PgStore;
use crate::store::sql::{all, one};
use crate::store::vault_rows as shared;
use crate::store::*;

#[async_trait]
impl VaultStore for PgStore {
    async fn watch_credentials(
        &self,
        changed: tokio::sync::mpsc::Sender<Option<Uuid>>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        self.listen("vieagent_credentials", &stop, |payload| {
            let changed = changed.clone();
            async move {
                changed
                    .send(payload.and_then(|p| p.parse().ok()))
                    .await
                    .is_ok()
            }
        })
        .await;
    }

    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        let q = query(concat!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv, \
             key_version) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, provider, key_name) DO UPDATE SET \
             id = excluded.id, encrypted_value = excluded.encrypted_value, iv = excluded.iv, \
             key_version = excluded.key_version, updated_at = NOW() RETURNING ",
            credential_cols!()
        ))
        .bind(row.id)
        .bind(row.user_id)
        .bind(&row.provider)
        .bind(&row.key_name)
        .bind(&row.encrypted_value)
        .bind(&row.iv)
        .bind(row.key_version);
        one(&self.pool, q, row::credential).await
    }

    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>> {
        let q = query(shared::CREDENTIALS_OF_USER).bind(user_id);
        all(&self.pool, q, row::credential).await
    }

    async fn delete_credential(
        &self,
        user_id: Uuid,
        provider: &str,
        key_name: &str,
    ) -> StoreResult<bool> {
        let done = query(shared::DELETE_CREDENTIAL)
            .bind(user_id)
            .bind(provider)
            .bind(key_name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>> {
        all(
            &self.pool,
            query(shared::KEY_VERSION_COUNTS),
            row::key_version_count,
        )
        .await
    }

    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>> {
        let q = query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE key_version <> $1 AND ($2::uuid IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        ))
        .bind(version)
        .bind(after)
        .bind(i64::from(limit));
        all(&self.pool, q, row::credential).await
    }

    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut updated = 0;
        for row in rows {
            let done = query(shared::RESEAL_CREDENTIAL)
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
        all(&self.pool, query(shared::VAULT_KEYS), row::vault_key).await
    }

    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()> {
        query(shared::INSERT_VAULT_KEY)
            .bind(row.key_version)
            .bind(&row.key_fingerprint)
            .bind(&row.canary)
            .bind(&row.canary_iv)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
