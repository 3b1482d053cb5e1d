//! HTTP authentication middleware: the bearer credential of a request — an
//! API key, or an OAuth access token when `auth.oidc` is configured —
//! resolved to a user ([`require_user`], for MCP and chat-tools) or to an
//! admin ([`require_admin`], for the admin API).
//!
//! Refusals follow RFC 6750 / MCP authorization: 401 with
//! `WWW-Authenticate: Bearer` when the credential is missing or invalid
//! (with OAuth: `resource_metadata` and `scope`, and `error="invalid_token"`
//! for a bad token); 403 with `error="insufficient_scope"` for a valid token
//! without the scope the endpoint needs; a non-admin on the admin API is 403.
//! A valid token whose account cannot be used (disabled, none, not
//! linkable) is a plain 403 saying why: signing in again would not help,
//! and a 401 would send OAuth clients round the sign-in loop.

use axum::extract::{OriginalUri, Request, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::accounts::KEY_PREFIX;
use crate::auth::AuthUser;
use crate::error::Error;
use crate::oidc::{Oidc, RESOURCE_PATHS};
use crate::state::AppState;
use crate::store::Role;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct AdminActor {
    pub user_id: Option<Uuid>,
    pub label: String,
}

/// The bearer token of a request, if well-formed.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Which of the gateway's resources a request is for (`/mcp`, `/sse`,
/// `/v1`), for its Protected Resource Metadata; `""` for the others.
fn resource_path(request: &Request) -> &'static str {
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path())
        .unwrap_or_else(|| request.uri().path());
    let first = path.split('/').nth(1).unwrap_or("");
    match first {
        "message" | "messages" => "/sse",
        _ => RESOURCE_PATHS
            .iter()
            .find(|p| p[1..] == *first)
            .copied()
            .unwrap_or(""),
    }
}

/// The 401 for a request without a credential when OAuth is on: what an
/// assistant's user does about it is sign in.
const SIGN_IN: &str = "sign-in required: connect your assistant to VieAgent and sign in \
     with your VieAgent account (OAuth), or send an API key as `Authorization: Bearer vak_…`";
/// The 401 for an API key that does not work, when OAuth is on.
const BAD_KEY_SIGN_IN: &str = "this API key is invalid or revoked: sign in with your VieAgent \
     account (OAuth) through your assistant, or use a valid API key";

/// A bearer credential, resolved.
enum Caller {
    User(AuthUser),
    Token(crate::oidc::TokenUser),
}

/// Resolve the request's credential. `Err` is the refusal to send.
async fn caller(
    state: &AppState,
    token: Option<&str>,
    path: &str,
    scope: ScopeOf,
) -> Result<Caller, Response> {
    let oidc = state.oidc();
    let Some(token) = token else {
        let error = match oidc {
            Some(_) => Error::InvalidToken(SIGN_IN.into()),
            None => Error::Unauthorized,
        };
        return Err(challenge(oidc, path, scope, error, None));
    };
    // API keys have a prefix; with OAuth on, everything else is an access
    // token (a JWT, or an opaque one for introspection).
    if let Some(oidc) = oidc
        && !token.starts_with(KEY_PREFIX)
    {
        return match oidc.verify(state.store(), token).await {
            Ok(user) => Ok(Caller::Token(user)),
            Err(Error::InvalidToken(why)) => {
                tracing::info!(reason = %why, "OAuth access token refused");
                Err(challenge(
                    Some(oidc),
                    path,
                    scope,
                    Error::InvalidToken(why.clone()),
                    Some(("invalid_token", &why)),
                ))
            }
            Err(Error::Forbidden(why)) => {
                tracing::info!(reason = %why, "OAuth sign-in refused for its account");
                Err(Error::Forbidden(why).into_response())
            }
            Err(e) => Err(e.into_response()),
        };
    }
    match state.auth().authenticate(state.store_arc(), token).await {
        Ok(Some(auth)) => Ok(Caller::User(auth)),
        Ok(None) => Err(challenge(
            oidc,
            path,
            scope,
            match oidc {
                Some(_) => Error::InvalidToken(BAD_KEY_SIGN_IN.into()),
                None => Error::Unauthorized,
            },
            Some(("invalid_token", "missing, invalid or revoked API key")),
        )),
        Err(e) => Err(e.into_response()),
    }
}

#[derive(Clone, Copy)]
enum ScopeOf {
    Tools,
    Admin,
}

impl ScopeOf {
    fn name(self, oidc: &Oidc) -> &str {
        match self {
            ScopeOf::Tools => &oidc.config().tools_scope,
            ScopeOf::Admin => &oidc.config().admin_scope,
        }
    }
}

/// The refusal: `error`'s problem+json, with the OAuth challenge in
/// `WWW-Authenticate` when OAuth is configured.
fn challenge(
    oidc: Option<&Oidc>,
    path: &str,
    scope: ScopeOf,
    error: Error,
    code: Option<(&str, &str)>,
) -> Response {
    let mut response = error.into_response();
    let Some(oidc) = oidc else {
        return response;
    };
    let mut value = format!(
        "Bearer resource_metadata=\"{}\", scope=\"{}\"",
        oidc.metadata_url(path),
        oidc.challenge_scope(scope.name(oidc))
    );
    if let Some((code, description)) = code {
        value.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            quotable(description)
        ));
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 6750 §3: `error_description` holds %x20-21 / %x23-5B / %x5D-7E only.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '\'',
        })
        .take(300)
        .collect()
}

/// 403 for a valid token without the endpoint's scope.
fn insufficient_scope(oidc: &Oidc, path: &str, scope: ScopeOf) -> Response {
    let needed = scope.name(oidc).to_string();
    let message = format!("the access token lacks the scope {needed}");
    let mut response = Error::Forbidden(message.clone()).into_response();
    let value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", error_description=\"{}\"",
        oidc.challenge_scope(&needed),
        oidc.metadata_url(path),
        quotable(&message)
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Middleware: a user's API key or an OAuth access token with the tools
/// scope; refused as the module documents otherwise.
pub async fn require_user(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer(&request).map(str::to_string);
    let path = resource_path(&request);
    let auth = match caller(&state, token.as_deref(), path, ScopeOf::Tools).await {
        Ok(Caller::User(auth)) => auth,
        Ok(Caller::Token(token)) => {
            let Some(oidc) = state.oidc() else {
                return Error::Unauthorized.into_response();
            };
            if !token.has_scope(&oidc.config().tools_scope) {
                return insufficient_scope(oidc, path, ScopeOf::Tools);
            }
            AuthUser {
                user: token.user,
                key_id: None,
            }
        }
        Err(refusal) => return refusal,
    };
    request.extensions_mut().insert(auth);
    next.run(request).await
}

/// Middleware: the bootstrap admin token (compared in constant time), an
/// admin user's API key, or an admin user's OAuth access token with the
/// admin scope.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let (Some(token), Some(admin_token)) = (bearer(&request), &state.config().admin_token) {
        let expected = admin_token.expose_secret().as_bytes();
        if !expected.is_empty() && bool::from(expected.ct_eq(token.as_bytes())) {
            request.extensions_mut().insert(AdminActor {
                user_id: None,
                label: "admin-token".into(),
            });
            return next.run(request).await;
        }
    }
    let token = bearer(&request).map(str::to_string);
    let path = resource_path(&request);
    let (user, via) = match caller(&state, token.as_deref(), path, ScopeOf::Admin).await {
        Ok(Caller::User(auth)) => (auth.user, "user"),
        Ok(Caller::Token(token)) => {
            let Some(oidc) = state.oidc() else {
                return Error::Unauthorized.into_response();
            };
            if !token.has_scope(&oidc.config().admin_scope) {
                return insufficient_scope(oidc, path, ScopeOf::Admin);
            }
            (token.user, "oauth")
        }
        Err(refusal) => return refusal,
    };
    if user.role != Role::Admin {
        return Error::Forbidden("the admin API needs an admin user's API key or token".into())
            .into_response();
    }
    request.extensions_mut().insert(AdminActor {
        user_id: Some(user.id),
        label: format!("{via}:{}", user.email),
    });
    next.run(request).await
}
