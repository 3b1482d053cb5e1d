//! Users and API keys on PostgreSQL.

use async_trait::async_trait;
use sqlx::{QueryBuilder, query};
use uuid::Uuid;

use super::PgStore;
use crate::store::accounts as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.pool.begin().await?;
        let user = one(
            &mut *tx,
            query(shared::INSERT_USER)
                .bind(Uuid::new_v4())
                .bind(&new.email)
                .bind(&new.display_name)
                .bind(new.role.as_str())
                .bind(&new.plan),
            row::user,
        )
        .await?;
        let credits = new.initial_credits.max(0);
        query(shared::INSERT_CREDIT_ACCOUNT)
            .bind(user.id)
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        if credits > 0 {
            query(shared::INSERT_SIGNUP_CREDITS)
                .bind(Uuid::new_v4())
                .bind(user.id)
                .bind(credits)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        optional(&self.pool, query(shared::USER_BY_ID).bind(id), row::user).await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        optional(
            &self.pool,
            query(shared::USER_BY_EMAIL).bind(email),
            row::user,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        all(&self.pool, query(shared::USERS), row::user).await
    }

    async fn list_users_page(
        &self,
        after_email: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let q = query(shared::USERS_AFTER)
            .bind(after_email)
            .bind(page_limit(Some(limit)));
        all(&self.pool, q, row::user).await
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new("UPDATE users SET id = id");
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
                q.push(", disabled_at = COALESCE(disabled_at, NOW())");
            }
            Some(false) => {
                q.push(", disabled_at = NULL");
            }
            None => {}
        }
        q.push(" WHERE id = ")
            .push_bind(id)
            .push(concat!(" RETURNING ", user_cols!()));
        match q.build().fetch_optional(&self.pool).await? {
            Some(row) => row::user(&row),
            None => Err(StoreError::NotFound { entity: "user" }),
        }
    }

    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        let q = query(shared::INSERT_API_KEY)
            .bind(Uuid::new_v4())
            .bind(new.user_id)
            .bind(&new.name)
            .bind(&new.prefix)
            .bind(&new.key_hash);
        one(&self.pool, q, row::api_key).await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>> {
        let q = query(shared::LIVE_KEY_WITH_USER).bind(key_hash);
        optional(&self.pool, q, row::key_with_user).await
    }

    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        optional(
            &self.pool,
            query(shared::API_KEY_BY_ID).bind(id),
            row::api_key,
        )
        .await
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        all(
            &self.pool,
            query(shared::API_KEYS_OF_USER).bind(user_id),
            row::api_key,
        )
        .await
    }

    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        all(
            &self.pool,
            query(shared::API_KEYS_BY_PREFIX).bind(prefix),
            row::api_key,
        )
        .await
    }

    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let done =
            query("UPDATE api_keys SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()> {
        query("UPDATE api_keys SET last_used_at = NOW() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_by_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>> {
        let q = query(shared::USER_BY_IDENTITY).bind(issuer).bind(subject);
        optional(&self.pool, q, row::user).await
    }

    async fn link_identity(&self, identity: &NewIdentity) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = query(shared::LINK_IDENTITY)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .bind(identity.user_id)
            .bind(identity.email.as_deref())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        query(shared::CLEAR_UNLINKED)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn identity_unlinked(&self, issuer: &str, subject: &str) -> StoreResult<bool> {
        let row = query(shared::IS_UNLINKED)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<Identity>> {
        let q = query(shared::IDENTITIES_OF_USER).bind(user_id);
        all(&self.pool, q, row::identity).await
    }

    async fn unlink_identity(
        &self,
        user_id: Uuid,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = query(shared::UNLINK_IDENTITY)
            .bind(user_id)
            .bind(issuer)
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        query(shared::MARK_UNLINKED)
            .bind(issuer)
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
