//! Sign in to `/app` with the marketplace account (OpenID Connect, code +
//! PKCE; the protocol is in `crate::oidc::signin`). The browser keeps the
//! sign-in's `state`, `nonce`, PKCE verifier and the page to come back to
//! in a short-lived cookie, signed with the Vault-derived key (so neither
//! the page to come back to nor the secrets can be swapped); the callback
//! checks `state` against it in constant time before anything else.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::browser::Browser;
use super::{NextQuery, any_browser, append_cookies, local_next, message, redirect, with_cookies};
use crate::oidc::SignInError;
use crate::portal;
use crate::state::AppState;

/// The cookie that carries a sign-in in progress.
pub const FLOW_COOKIE: &str = "vieagent_oidc";
/// Set when the session came from the identity provider (sign-out then
/// signs out there too).
pub const VIA_COOKIE: &str = "vieagent_via";
/// The callback path registered at the identity provider.
pub const CALLBACK_PATH: &str = "/app/signin/callback";
const FLOW_TTL_SECS: u64 = 600;
const FLOW_LABEL: &[u8] = b"vieagent/oidc-flow/v1\0";

#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    /// Unix seconds when it began.
    at: i64,
}

/// The callback's redirect URI (as registered at the provider).
pub fn redirect_uri(state: &AppState) -> String {
    format!(
        "{}{CALLBACK_PATH}",
        state
            .config()
            .public_base_url()
            .as_str()
            .trim_end_matches('/')
    )
}

fn seal(state: &AppState, flow: &Flow) -> Option<String> {
    let body = B64.encode(serde_json::to_vec(flow).ok()?);
    let mut message = FLOW_LABEL.to_vec();
    message.extend_from_slice(body.as_bytes());
    let (version, tag) = state.vault().keyring().sign(&message);
    Some(format!("{body}.{version}.{}", B64.encode(tag)))
}

fn open(state: &AppState, cookie: &str) -> Option<Flow> {
    let mut parts = cookie.split('.');
    let (body, version, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let mut message = FLOW_LABEL.to_vec();
    message.extend_from_slice(body.as_bytes());
    let version = version.parse::<i32>().ok()?;
    let tag = B64.decode(tag).ok()?;
    if !state.vault().keyring().verify(version, &message, &tag) {
        return None;
    }
    let flow: Flow = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
    let age = chrono::Utc::now().timestamp() - flow.at;
    (0..=FLOW_TTL_SECS as i64).contains(&age).then_some(flow)
}

fn flow_cookie(browser: &Browser, value: &str, max_age: u64) -> String {
    format!(
        "{FLOW_COOKIE}={value}; Path=/app/signin; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        browser.secure_attr()
    )
}

/// The cookie saying the session came from the identity provider (empty
/// with `max_age` 0: forgotten).
pub fn via_cookie(browser: &Browser, value: &str, max_age: u64) -> String {
    format!(
        "{VIA_COOKIE}={value}; Path=/app; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        browser.secure_attr()
    )
}

/// `GET /app/signin`: off to the identity provider.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let browser = match any_browser(&state, &headers).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let (Some(oidc), Some(client)) = (state.oidc(), state.config().web.oidc.as_ref()) else {
        return redirect("/app/login");
    };
    let next = local_next(q.next.as_deref()).to_string();
    match oidc
        .start_sign_in(client, &redirect_uri(&state), browser.lang.code())
        .await
    {
        Ok(sign_in) => {
            let flow = Flow {
                state: sign_in.state,
                nonce: sign_in.nonce,
                verifier: sign_in.verifier,
                next,
                at: chrono::Utc::now().timestamp(),
            };
            let Some(sealed) = seal(&state, &flow) else {
                return refused(&state, &browser, "signin-error-unavailable");
            };
            let cookie = flow_cookie(&browser, &sealed, FLOW_TTL_SECS);
            with_cookies(&browser, redirect(sign_in.url.as_str()), Some(cookie))
        }
        Err(e) => {
            tracing::warn!(error = %e, "web sign-in could not start");
            refused(&state, &browser, "signin-error-unavailable")
        }
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /app/signin/callback`: back from the identity provider.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let browser = match any_browser(&state, &headers).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let (Some(oidc), Some(client)) = (state.oidc(), state.config().web.oidc.as_ref()) else {
        return redirect("/app/login");
    };
    let flow =
        super::browser::cookie_up_to(&headers, FLOW_COOKIE, 1024).and_then(|c| open(&state, c));
    let Some(flow) = flow else {
        tracing::info!("web sign-in callback without a live sign-in in this browser");
        return refused(&state, &browser, "signin-error-expired");
    };
    let sent = q.state.unwrap_or_default();
    let same: bool = subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), flow.state.as_bytes()).into();
    if !same {
        tracing::warn!("web sign-in callback with a state that is not this browser's");
        return refused(&state, &browser, "signin-error-state");
    }
    if let Some(error) = q.error {
        tracing::info!(error = %error, "the identity provider did not sign the user in");
        return refused(&state, &browser, "signin-error-cancelled");
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return refused(&state, &browser, "signin-error-state");
    };
    let signed = oidc
        .finish_sign_in(
            state.store(),
            client,
            &redirect_uri(&state),
            &code,
            &flow.verifier,
            &flow.nonce,
        )
        .await;
    let (user, _id_token) = match signed {
        Ok(v) => v,
        Err(SignInError::Account(e)) => {
            tracing::info!(error = %e, "web sign-in: no usable account");
            return refused(&state, &browser, "signin-error-account");
        }
        Err(SignInError::Unavailable(e)) => {
            tracing::warn!(error = %e, "web sign-in: identity provider unavailable");
            return refused(&state, &browser, "signin-error-unavailable");
        }
        Err(SignInError::Refused(e)) => {
            tracing::warn!(error = %e, "web sign-in refused");
            return refused(&state, &browser, "signin-error-state");
        }
    };
    let ttl = state.config().web.session_ttl;
    let session = match portal::start_session(state.store(), user.id, ttl).await {
        Ok(s) => s,
        Err(e) => return super::error_page(&state, &browser, e),
    };
    if let Some(old) = &browser.session_cookie
        && let Err(e) = portal::end_session(state.store(), old).await
    {
        tracing::warn!(error = %e, "could not end the previous web session");
    }
    tracing::info!(user_id = %user.id, session_id = %session.session.id, via = "oidc", "web sign-in");
    let session_cookie = browser.session_cookie_header(
        secrecy::ExposeSecret::expose_secret(&session.cookie),
        ttl.as_secs(),
    );
    with_cookies(
        &browser,
        redirect(&flow.next),
        [
            session_cookie,
            flow_cookie(&browser, "", 0),
            via_cookie(&browser, "oidc", ttl.as_secs()),
        ],
    )
}

/// A sign-in that did not work: a page that says why and offers to try
/// again; nothing is signed in, and the sign-in cookie is cleared.
fn refused(state: &AppState, browser: &Browser, id: &str) -> Response {
    let tr = browser.tr();
    let (title, again) = (tr.t("signin-error-title"), tr.t("signin-try-again"));
    let page = message(
        state,
        browser,
        axum::http::StatusCode::BAD_REQUEST,
        (&title, &tr.t(id)),
        ("/app/login", &again),
        "/app/login",
    );
    append_cookies(page, [flow_cookie(browser, "", 0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_path_is_under_the_flow_cookies_path() {
        assert!(CALLBACK_PATH.starts_with("/app/signin"));
    }
}
