//! `/admin/v1/users`: users, their API keys and their credentials
//! (write-only: no endpoint ever returns a credential value).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{AdminActor, audit, page};
use crate::accounts;
use crate::error::{Error, FieldError, Result};
use crate::http::credentials::{self, CredentialList, CredentialPut, CredentialView, KeyNameQuery};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{AdminAuth, BadBody, Conflict, Invalid, NotFound};
use crate::state::AppState;
use crate::store::{ApiKey, Role, User, UserPatch};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_credentials))
        .routes(routes!(put_credential, delete_credential))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub plan: String,
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            disabled: u.disabled_at.is_some(),
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            plan: u.plan,
            created_at: u.created_at,
            disabled_at: u.disabled_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    #[serde(default = "default_role")]
    pub role: Role,
    #[serde(default = "default_plan")]
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub plan: String,
    /// Credits the account starts with (default: `billing.signup_credits`).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "crate::agents::opt_int64_like")]
    pub initial_credits: Option<i64>,
}

fn default_role() -> Role {
    Role::User
}
fn default_plan() -> String {
    "free".into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default, deserialize_with = "crate::agents::double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub display_name: Option<Option<String>>,
    pub role: Option<Role>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub plan: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            user_id: k.user_id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreate {
    #[serde(default = "default_key_name")]
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
}

fn default_key_name() -> String {
    "default".into()
}

/// A new key: `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    pub api_key: ApiKeyView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<ApiKeyView>,
}

pub(super) async fn load(state: &AppState, id: Uuid) -> Result<User> {
    state
        .store()
        .get_user(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user with id {id}")))
}

/// List users, ordered by email.
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery),
    responses(
        (status = 200, body = UserPage),
        Invalid, AdminAuth,
    ))]
async fn list_users(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::Json<UserPage>> {
    let limit = page::page_size(q.limit)?;
    let after = page::after_text(q.cursor.as_deref())?;
    let users = state
        .store()
        .list_users_page(after.as_deref(), limit + 1)
        .await?;
    let (items, next_cursor) = page::page(users, limit, UserView::from, |u| {
        page::text_cursor(&u.email)
    });
    Ok(axum::Json(UserPage { items, next_cursor }))
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = UserCreate,
    responses(
        (status = 201, body = UserView),
        Invalid, AdminAuth, Conflict, BadBody,
    ))]
async fn create_user(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiJson(body): ApiJson<UserCreate>,
) -> Result<(StatusCode, axum::Json<UserView>)> {
    let mut errors = Vec::new();
    if accounts::normalize_email(&body.email).is_err() {
        errors.push(FieldError::new(
            "email",
            "format",
            "must look like name@example.com",
        ));
    }
    if accounts::validate_plan(&body.plan).is_err() {
        errors.push(FieldError::new(
            "plan",
            "length",
            "must be 1 to 64 printable characters",
        ));
    }
    if body
        .display_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 200)
    {
        errors.push(FieldError::new(
            "display_name",
            "max_length",
            "must be at most 200 characters",
        ));
    }
    if body
        .initial_credits
        .is_some_and(|c| !(0..=1_000_000_000).contains(&c))
    {
        errors.push(FieldError::new(
            "initial_credits",
            "range",
            "must be between 0 and 1000000000",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let user = accounts::create_user(
        state.store(),
        &body.email,
        body.display_name,
        body.role,
        &body.plan,
        body.initial_credits
            .unwrap_or(state.config().billing.signup_credits),
    )
    .await?;
    audit(
        &state,
        &actor,
        "user.create",
        "user",
        Some(user.id.to_string()),
        json!({"email": user.email, "role": user.role}),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn get_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<UserView>> {
    Ok(axum::Json(load(&state, id).await?.into()))
}

/// Change a user's role, plan or display name.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UserUpdate,
    responses(
        (status = 200, body = UserView),
        Invalid, AdminAuth, NotFound, BadBody,
    ))]
async fn update_user(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> Result<axum::Json<UserView>> {
    let mut errors = Vec::new();
    if let Some(plan) = &body.plan
        && accounts::validate_plan(plan).is_err()
    {
        errors.push(FieldError::new(
            "plan",
            "length",
            "must be 1 to 64 printable characters",
        ));
    }
    if let Some(Some(name)) = &body.display_name
        && name.chars().count() > 200
    {
        errors.push(FieldError::new(
            "display_name",
            "max_length",
            "must be at most 200 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    load(&state, id).await?;
    let user = state
        .store()
        .update_user(
            id,
            &UserPatch {
                display_name: body.display_name,
                role: body.role,
                plan: body.plan,
                disabled: None,
            },
        )
        .await?;
    state.forget_callers();
    audit(
        &state,
        &actor,
        "user.update",
        "user",
        Some(id.to_string()),
        json!({"role": user.role, "plan": user.plan}),
    )
    .await;
    Ok(axum::Json(user.into()))
}

/// Disable a user: their keys stop working (within the auth cache time in
/// other processes), their data stays.
#[utoipa::path(post, path = "/users/{id}/disable", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn disable_user(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<UserView>> {
    set_disabled(&state, &actor, id, true).await
}

#[utoipa::path(post, path = "/users/{id}/enable", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn enable_user(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<UserView>> {
    set_disabled(&state, &actor, id, false).await
}

async fn set_disabled(
    state: &AppState,
    actor: &AdminActor,
    id: Uuid,
    disabled: bool,
) -> Result<axum::Json<UserView>> {
    load(state, id).await?;
    let user = state
        .store()
        .update_user(
            id,
            &UserPatch {
                disabled: Some(disabled),
                ..UserPatch::default()
            },
        )
        .await?;
    state.forget_callers();
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(
        state,
        actor,
        action,
        "user",
        Some(id.to_string()),
        json!({"email": user.email}),
    )
    .await;
    Ok(axum::Json(user.into()))
}

#[utoipa::path(get, path = "/users/{id}/keys", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = KeyList),
        Invalid, AdminAuth, NotFound,
    ))]
async fn list_keys(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<KeyList>> {
    load(&state, id).await?;
    let items = state
        .store()
        .list_api_keys(id)
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(axum::Json(KeyList { items }))
}

/// Create an API key; the key is in this response only.
#[utoipa::path(post, path = "/users/{id}/keys", tag = "users", params(("id" = Uuid, Path)), request_body = KeyCreate,
    responses(
        (status = 201, body = CreatedKey),
        Invalid, AdminAuth, NotFound, BadBody,
    ))]
async fn create_key(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<KeyCreate>,
) -> Result<(StatusCode, axum::Json<CreatedKey>)> {
    if body.name.trim().is_empty() || body.name.chars().count() > 128 {
        return Err(Error::Validation(vec![FieldError::new(
            "name",
            "length",
            "must be 1 to 128 characters",
        )]));
    }
    load(&state, id).await?;
    let (key, secret) = accounts::create_key(state.store(), id, &body.name).await?;
    audit(
        &state,
        &actor,
        "key.create",
        "api_key",
        Some(key.id.to_string()),
        json!({"user_id": id, "prefix": key.prefix}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKey {
            key: secret.expose_secret().to_string(),
            api_key: key.into(),
        }),
    ))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/keys/{key_id}", tag = "users", params(("key_id" = Uuid, Path)),
    responses(
        (status = 200, body = ApiKeyView),
        Invalid, AdminAuth, NotFound, Conflict,
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(key_id): ApiPath<Uuid>,
) -> Result<axum::Json<ApiKeyView>> {
    let key = accounts::revoke_key(state.store(), &key_id.to_string()).await?;
    state.forget_callers();
    audit(
        &state,
        &actor,
        "key.revoke",
        "api_key",
        Some(key.id.to_string()),
        json!({"user_id": key.user_id, "prefix": key.prefix}),
    )
    .await;
    Ok(axum::Json(key.into()))
}

/// A user's credentials: metadata only, never the values.
#[utoipa::path(get, path = "/users/{id}/credentials", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = CredentialList),
        Invalid, AdminAuth, NotFound,
    ))]
async fn list_credentials(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<CredentialList>> {
    load(&state, id).await?;
    Ok(axum::Json(credentials::list(&state, id).await?))
}

/// Store (or replace) a credential for the user, encrypted in the Vault.
#[utoipa::path(put, path = "/users/{id}/credentials/{provider}", tag = "users",
    params(("id" = Uuid, Path), ("provider" = String, Path, pattern = r"^[a-z0-9_.-]{1,64}$")),
    request_body = CredentialPut,
    responses(
        (status = 200, body = CredentialView),
        Invalid, AdminAuth, NotFound, BadBody,
    ))]
async fn put_credential(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath((id, provider)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<CredentialPut>,
) -> Result<axum::Json<CredentialView>> {
    let user = load(&state, id).await?;
    Ok(axum::Json(
        credentials::put(&state, &actor, &user, &provider, body).await?,
    ))
}

#[utoipa::path(delete, path = "/users/{id}/credentials/{provider}", tag = "users",
    params(("id" = Uuid, Path), ("provider" = String, Path, pattern = r"^[a-z0-9_.-]{1,64}$"), KeyNameQuery),
    responses(
        (status = 204, description = "Deleted"),
        Invalid, AdminAuth, NotFound,
    ))]
async fn delete_credential(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath((id, provider)): ApiPath<(Uuid, String)>,
    ApiQuery(q): ApiQuery<KeyNameQuery>,
) -> Result<StatusCode> {
    let user = load(&state, id).await?;
    credentials::delete(&state, &actor, &user, &provider, q.key_name).await?;
    Ok(StatusCode::NO_CONTENT)
}
