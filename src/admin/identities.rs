//! `/admin/v1/users/{id}/identities`: the OAuth identities (issuer,
//! subject) a user signs in with. Most are linked at the identity's first
//! sign-in (by verified email, or by provisioning); these endpoints let an
//! admin link one by hand — for authorization servers that assert no
//! verified email (Entra ID) — and unlink one.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::load;
use super::{AdminActor, audit};
use crate::error::{Error, FieldError, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{AdminAuth, BadBody, Conflict, Invalid, NotFound};
use crate::state::AppState;
use crate::store::{Identity, NewIdentity};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_identities, link_identity, unlink_identity))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    /// The authorization server's issuer URL (`iss`).
    pub issuer: String,
    /// The user's id there (`sub`).
    pub subject: String,
    pub email: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Identity> for IdentityView {
    fn from(i: Identity) -> Self {
        Self {
            issuer: i.issuer,
            subject: i.subject,
            email: i.email,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    pub items: Vec<IdentityView>,
}

#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdentityRef {
    /// The issuer URL, exactly as in the tokens' `iss`.
    #[schema(min_length = 1, max_length = 2048)]
    #[param(min_length = 1, max_length = 2048)]
    pub issuer: String,
    /// The subject (`sub`) at that issuer.
    #[schema(min_length = 1, max_length = 255)]
    #[param(min_length = 1, max_length = 255)]
    pub subject: String,
}

impl IdentityRef {
    fn check(&self) -> Result<()> {
        let mut errors = Vec::new();
        let printable = |s: &str| !s.chars().any(char::is_control);
        if self.issuer.is_empty()
            || self.issuer.chars().count() > 2048
            || !printable(&self.issuer)
            || url::Url::parse(&self.issuer).is_err()
        {
            errors.push(FieldError::new(
                "issuer",
                "format",
                "must be the issuer's URL, as in its tokens' iss",
            ));
        }
        if self.subject.is_empty()
            || self.subject.chars().count() > 255
            || !printable(&self.subject)
        {
            errors.push(FieldError::new(
                "subject",
                "length",
                "must be 1 to 255 printable characters",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// A user's OAuth identities.
#[utoipa::path(get, path = "/users/{id}/identities", tag = "users", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = IdentityList),
        Invalid, AdminAuth, NotFound,
    ))]
async fn list_identities(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<IdentityList>> {
    load(&state, id).await?;
    let items = state
        .store()
        .list_identities(id)
        .await?
        .into_iter()
        .map(IdentityView::from)
        .collect();
    Ok(axum::Json(IdentityList { items }))
}

/// Link an OAuth identity to a user: its tokens then act for this user.
/// 409 when the identity belongs to a user already.
#[utoipa::path(post, path = "/users/{id}/identities", tag = "users", params(("id" = Uuid, Path)),
    request_body = IdentityRef,
    responses(
        (status = 201, body = IdentityView),
        Invalid, AdminAuth, NotFound, BadBody, Conflict,
    ))]
async fn link_identity(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<IdentityRef>,
) -> Result<(StatusCode, axum::Json<IdentityView>)> {
    body.check()?;
    let issuer = canonical(&state, &body.issuer);
    let user = load(&state, id).await?;
    let linked = state
        .store()
        .link_identity(&NewIdentity {
            issuer: issuer.clone(),
            subject: body.subject.clone(),
            user_id: id,
            email: None,
        })
        .await?;
    if !linked {
        return Err(Error::Conflict(format!(
            "the identity {} at {issuer} is linked to a user already; unlink it there first",
            body.subject
        )));
    }
    audit(
        &state,
        &actor,
        "identity.link",
        "user",
        Some(id.to_string()),
        json!({"issuer": issuer, "subject": body.subject, "email": user.email}),
    )
    .await;
    let identity = state
        .store()
        .list_identities(id)
        .await?
        .into_iter()
        .find(|i| i.issuer == issuer && i.subject == body.subject)
        .ok_or_else(|| Error::Internal("the identity just linked is missing".into()))?;
    Ok((StatusCode::CREATED, axum::Json(identity.into())))
}

/// Unlink an OAuth identity: its tokens stop acting for this user (within
/// `auth_cache_ttl` on other replicas), and its next sign-in is not linked
/// again by its email: only an explicit link (POST) undoes an unlink.
#[utoipa::path(delete, path = "/users/{id}/identities", tag = "users",
    params(("id" = Uuid, Path), IdentityRef),
    responses(
        (status = 204, description = "Unlinked"),
        Invalid, AdminAuth, NotFound,
    ))]
async fn unlink_identity(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<IdentityRef>,
) -> Result<StatusCode> {
    q.check()?;
    let issuer = canonical(&state, &q.issuer);
    load(&state, id).await?;
    if !state
        .store()
        .unlink_identity(id, &issuer, &q.subject)
        .await?
    {
        return Err(Error::NotFound(format!(
            "the user has no identity {} at {issuer}",
            q.subject
        )));
    }
    state.forget_callers();
    audit(
        &state,
        &actor,
        "identity.unlink",
        "user",
        Some(id.to_string()),
        json!({"issuer": issuer, "subject": q.subject}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The issuer as identities store it: the configured authorization
/// server's own spelling when `issuer` names it (a trailing slash aside).
fn canonical(state: &AppState, issuer: &str) -> String {
    match state.oidc() {
        Some(oidc) => oidc.canonical_issuer(issuer),
        None => issuer.to_string(),
    }
}
