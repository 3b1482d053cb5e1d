//! A user's provider credentials over HTTP, shared by the admin API
//! (`/admin/v1/users/{id}/credentials`) and the user's own API
//! (`/v1/me/credentials`): the same shapes, the same Vault calls, the same
//! audit entries. Values are write-only: nothing here returns one.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::audit::audit;
use super::auth::AdminActor;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::User;
use crate::vault::CredentialInfo;

pub fn default_key_name() -> String {
    "default".into()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub provider: String,
    pub key_name: String,
    pub key_version: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<CredentialInfo> for CredentialView {
    fn from(c: CredentialInfo) -> Self {
        Self {
            provider: c.provider,
            key_name: c.key_name,
            key_version: c.key_version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub items: Vec<CredentialView>,
}

/// A credential value to store, encrypted, for the user. It is never returned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPut {
    /// The secret (e.g. an OpenAI key). Write-only.
    #[schema(min_length = 1, max_length = 65536, write_only)]
    pub value: String,
    #[serde(default = "default_key_name")]
    #[schema(min_length = 1, max_length = 64)]
    pub key_name: String,
}

impl std::fmt::Debug for CredentialPut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialPut")
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyNameQuery {
    #[param(min_length = 1, max_length = 64)]
    pub key_name: Option<String>,
}

/// The user's credentials, metadata only.
pub async fn list(state: &AppState, user_id: Uuid) -> Result<CredentialList> {
    let items = state
        .vault()
        .list(user_id)
        .await?
        .into_iter()
        .map(CredentialView::from)
        .collect();
    Ok(CredentialList { items })
}

/// Store (or replace) one, audited. The next call uses it (this process
/// forgets its cached rows at once).
pub async fn put(
    state: &AppState,
    actor: &AdminActor,
    user: &User,
    provider: &str,
    body: CredentialPut,
) -> Result<CredentialView> {
    let secret = SecretString::from(body.value);
    let info = state
        .vault()
        .put(user, provider, &body.key_name, &secret)
        .await?;
    audit(
        state,
        actor,
        "credential.put",
        "credential",
        Some(format!("{}/{provider}/{}", user.id, info.key_name)),
        json!({"user_id": user.id, "provider": info.provider, "key_name": info.key_name}),
    )
    .await;
    Ok(info.into())
}

/// Delete one, audited; 404 when there is none.
pub async fn delete(
    state: &AppState,
    actor: &AdminActor,
    user: &User,
    provider: &str,
    key_name: Option<String>,
) -> Result<()> {
    let key_name = key_name.unwrap_or_else(default_key_name);
    if !state.vault().delete(user.id, provider, &key_name).await? {
        return Err(Error::NotFound(format!(
            "there is no {provider} credential named '{key_name}'"
        )));
    }
    audit(
        state,
        actor,
        "credential.delete",
        "credential",
        Some(format!("{}/{provider}/{key_name}", user.id)),
        json!({"user_id": user.id, "provider": provider, "key_name": key_name}),
    )
    .await;
    Ok(())
}
