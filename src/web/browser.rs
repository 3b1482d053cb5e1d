//! Who is at the other end of a web request: the browser's cookies (its
//! CSRF cookie and, when signed in, its session), and the user behind the
//! session. Also the CSRF tokens every state-changing form carries.
//!
//! CSRF: a signed double-submit cookie. Every browser gets a random
//! `vieagent_csrf` cookie (HttpOnly, SameSite=Lax); each form carries an
//! HMAC of it under the Vault-derived signing key, which a cross-site page
//! can neither read nor compute. Session cookies are SameSite=Lax too.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::i18n::{LANG_COOKIE, Lang, Tr};
use crate::error::{Error, Result};
use crate::portal;
use crate::state::AppState;
use crate::store::User;

pub const SESSION_COOKIE: &str = "vieagent_session";
pub const CSRF_COOKIE: &str = "vieagent_csrf";
/// The hidden field every state-changing form carries.
pub const CSRF_FIELD: &str = "_csrf";

const CSRF_LABEL: &[u8] = b"vieagent/csrf/v1\0";

/// The browser making a request.
pub struct Browser {
    /// The CSRF cookie's value (new if the browser had none).
    csrf_cookie: String,
    /// Set when `csrf_cookie` is new and must be sent.
    new_csrf: bool,
    /// The session cookie's value, if the browser sent one.
    pub session_cookie: Option<String>,
    /// The signed-in user, if the session is live.
    signed_in: Option<Arc<User>>,
    secure: bool,
    /// The language of its pages: chosen, else `Accept-Language`, else
    /// `web.default_locale`.
    pub lang: Lang,
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookie_up_to(headers, name, 128)
}

/// A cookie's value, if it is at most `max` bytes.
pub(super) fn cookie_up_to<'a>(headers: &'a HeaderMap, name: &str, max: usize) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= max)
}

impl Browser {
    pub async fn of(state: &AppState, headers: &HeaderMap) -> Result<Self> {
        let (csrf_cookie, new_csrf) = match cookie(headers, CSRF_COOKIE) {
            Some(v) => (v.to_string(), false),
            None => (
                portal::random_token()
                    .map_err(|e| Error::Internal(format!("random token: {e}")))?,
                true,
            ),
        };
        let session_cookie = cookie(headers, SESSION_COOKIE).map(str::to_string);
        let mut signed_in = None;
        if let Some(value) = &session_cookie
            && let Some(session) = portal::session(state.store(), value).await?
            && let Some(user) = state.store().get_user(session.user_id).await?
            && user.disabled_at.is_none()
        {
            signed_in = Some(Arc::new(user));
        }
        Ok(Self {
            csrf_cookie,
            new_csrf,
            session_cookie,
            signed_in,
            secure: state.config().public_base_url().scheme() == "https",
            lang: language(headers, &state.config().web.default_locale),
        })
    }

    /// Its pages' messages.
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    /// Keep `lang` as this browser's choice (a year).
    pub fn lang_cookie_header(&self, lang: Lang) -> String {
        format!(
            "{LANG_COOKIE}={}; Path=/app; SameSite=Lax; Max-Age=31536000{}",
            lang.code(),
            self.secure_attr()
        )
    }

    pub fn user(&self) -> Option<&Arc<User>> {
        self.signed_in.as_ref()
    }

    /// The token this browser's forms carry.
    pub fn csrf_token(&self, state: &AppState) -> String {
        let (version, tag) = state
            .vault()
            .keyring()
            .sign(&csrf_message(&self.csrf_cookie));
        format!("{version}.{}", B64.encode(tag))
    }

    /// Whether a posted form carries this browser's token (a new cookie
    /// never matches: the form did not come from a page we served it).
    pub fn csrf_ok(&self, state: &AppState, token: Option<&str>) -> bool {
        if self.new_csrf {
            return false;
        }
        let Some((version, tag)) = token.and_then(|t| t.split_once('.')) else {
            return false;
        };
        let (Ok(version), Ok(tag)) = (version.parse::<i32>(), B64.decode(tag)) else {
            return false;
        };
        state
            .vault()
            .keyring()
            .verify(version, &csrf_message(&self.csrf_cookie), &tag)
    }

    /// Cookies to send with the response.
    pub fn set_cookies(&self) -> Vec<String> {
        if self.new_csrf {
            vec![format!(
                "{CSRF_COOKIE}={}; Path=/app; HttpOnly; SameSite=Lax{}",
                self.csrf_cookie,
                self.secure_attr()
            )]
        } else {
            Vec::new()
        }
    }

    pub fn session_cookie_header(&self, value: &str, max_age_secs: u64) -> String {
        format!(
            "{SESSION_COOKIE}={value}; Path=/app; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
            self.secure_attr()
        )
    }

    pub fn clear_session_cookie_header(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/app; HttpOnly; SameSite=Lax; Max-Age=0{}",
            self.secure_attr()
        )
    }

    pub(super) fn secure_attr(&self) -> &'static str {
        if self.secure { "; Secure" } else { "" }
    }
}

/// The language a request's pages speak.
pub fn language(headers: &HeaderMap, default: &str) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .or_else(|| {
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .or_else(|| Lang::parse(default))
        .unwrap_or(Lang::Vi)
}

fn csrf_message(cookie: &str) -> Vec<u8> {
    let mut m = CSRF_LABEL.to_vec();
    m.extend_from_slice(cookie.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; vieagent_csrf=abc; vieagent_session=xyz"),
        );
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
