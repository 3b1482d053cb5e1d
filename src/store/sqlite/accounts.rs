//! Users and API keys on SQLite.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(concat!(
            "INSERT INTO users (id, email, display_name, role, plan) VALUES (?, ?, ?, ?, ?) RETURNING ",
            user_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(&new.email)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(&new.plan)
        .fetch_one(&mut *tx)
        .await?;
        let user = row::user(&row)?;
        let credits = new.initial_credits.max(0);
        sqlx::query("INSERT INTO credit_accounts (user_id, balance) VALUES (?, ?)")
            .bind(user.id.to_string())
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        if credits > 0 {
            sqlx::query(
                "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
                 VALUES (?, ?, ?, 'signup', ?)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(user.id.to_string())
            .bind(credits)
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        optional(
            &self.reader,
            sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = ?"))
                .bind(id.to_string()),
            row::user,
        )
        .await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        optional(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE email = ?"
            ))
            .bind(email),
            row::user,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users ORDER BY email"
            )),
            row::user,
        )
        .await
    }

    async fn list_users_page(
        &self,
        after_email: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE (? IS NULL OR email > ?) ORDER BY email LIMIT ?"
            ))
            .bind(after_email)
            .bind(after_email)
            .bind(page_limit(Some(limit))),
            row::user,
        )
        .await
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new("UPDATE users SET id = id");
        if let Some(v) = &patch.display_name {
            q.push(", display_name = ").push_bind(v.clone());
        }
        if let Some(v) = patch.role {
            q.push(", role = ").push_bind(v.as_str());
        }
        if let Some(v) = &patch.plan {
            q.push(", plan = ").push_bind(v.clone());
        }
        match patch.disabled {
            Some(true) => {
                q.push(concat!(
                    ", disabled_at = COALESCE(disabled_at, ",
                    now!(),
                    ")"
                ));
            }
            Some(false) => {
                q.push(", disabled_at = NULL");
            }
            None => {}
        }
        q.push(" WHERE id = ")
            .push_bind(id.to_string())
            .push(concat!(" RETURNING ", user_cols!()));
        match q.build().fetch_optional(&self.writer).await? {
            Some(row) => row::user(&row),
            None => Err(StoreError::NotFound { entity: "user" }),
        }
    }

    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        one(&self.writer, sqlx::query(concat!(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash) VALUES (?, ?, ?, ?, ?) RETURNING ",
            api_key_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.user_id.to_string())
        .bind(&new.name)
        .bind(&new.prefix)
        .bind(&new.key_hash), row::api_key).await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>> {
        optional(
            &self.reader,
            sqlx::query(
                "SELECT k.id AS k_id, k.user_id, k.name, k.prefix, k.created_at AS k_created_at, \
             k.last_used_at, k.revoked_at, u.id, u.email, u.display_name, u.role, u.plan, \
             u.created_at, u.disabled_at \
             FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = ? AND k.revoked_at IS NULL",
            )
            .bind(key_hash),
            row::key_with_user,
        )
        .await
    }

    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        optional(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                api_key_cols!(),
                " FROM api_keys WHERE id = ?"
            ))
            .bind(id.to_string()),
            row::api_key,
        )
        .await
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                api_key_cols!(),
                " FROM api_keys WHERE user_id = ? ORDER BY created_at, id"
            ))
            .bind(user_id.to_string()),
            row::api_key,
        )
        .await
    }

    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        all(
            &self.reader,
            sqlx::query(concat!(
                "SELECT ",
                api_key_cols!(),
                " FROM api_keys WHERE prefix = ? ORDER BY created_at, id"
            ))
            .bind(prefix),
            row::api_key,
        )
        .await
    }

    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = ",
            now!(),
            " WHERE id = ? AND revoked_at IS NULL"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(concat!(
            "UPDATE api_keys SET last_used_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
