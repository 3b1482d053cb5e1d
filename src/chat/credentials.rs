//! `/v1/me/credentials`: the user's own provider keys (OpenAI, Anthropic,
//! Google, …), stored encrypted in the Vault. Values are write-only: listed
//! by provider and key name, never shown back. Every change is audited, and
//! the next call uses it.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::Result;
use crate::http::auth::AdminActor;
use crate::http::credentials::{self, CredentialList, CredentialPut, CredentialView, KeyNameQuery};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{BadBody, Invalid, NotFound, Unauthorized};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials))
        .routes(routes!(put_credential, delete_credential))
}

/// The audit log's name for a user acting on their own account.
fn actor(auth: &AuthUser) -> AdminActor {
    AdminActor {
        user_id: Some(auth.user.id),
        label: format!("self:{}", auth.user.email),
    }
}

/// Your stored credentials: provider, key name and dates — never a value.
#[utoipa::path(get, path = "/me/credentials", tag = "credentials",
    responses(
        (status = 200, body = CredentialList),
        Unauthorized,
    ))]
async fn list_credentials(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
) -> Result<axum::Json<CredentialList>> {
    Ok(axum::Json(credentials::list(&state, auth.user.id).await?))
}

/// Store (or replace) your key for a provider, encrypted in the Vault. The
/// value is write-only; the next call uses it.
#[utoipa::path(put, path = "/me/credentials/{provider}", tag = "credentials",
    params(("provider" = String, Path, pattern = r"^[a-z0-9_.-]{1,64}$")),
    request_body = CredentialPut,
    responses(
        (status = 200, body = CredentialView),
        Invalid, Unauthorized, BadBody,
    ))]
async fn put_credential(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<CredentialPut>,
) -> Result<axum::Json<CredentialView>> {
    let view = credentials::put(&state, &actor(&auth), &auth.user, &provider, body).await?;
    Ok(axum::Json(view))
}

/// Delete your key for a provider (`key_name` defaults to `default`).
#[utoipa::path(delete, path = "/me/credentials/{provider}", tag = "credentials",
    params(("provider" = String, Path, pattern = r"^[a-z0-9_.-]{1,64}$"), KeyNameQuery),
    responses(
        (status = 204, description = "Deleted"),
        Invalid, Unauthorized, NotFound,
    ))]
async fn delete_credential(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(q): ApiQuery<KeyNameQuery>,
) -> Result<StatusCode> {
    credentials::delete(&state, &actor(&auth), &auth.user, &provider, q.key_name).await?;
    Ok(StatusCode::NO_CONTENT)
}
