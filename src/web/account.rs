//! The buyer's own account pages: their API keys (for Cursor, VS Code and
//! Claude Desktop's stdio) and "Connect your assistant".
//!
//! **API keys** (`/app/api-keys`): create one (named), list them (name,
//! prefix, created, last used), revoke one (asked first, on a page of its
//! own). A key is only ever this user's: another user's key id answers 404
//! and changes nothing. Every change writes an audit row, as the admin API
//! does (`key.create`, `key.revoke`). A revoked key stops working at once on
//! this replica (the auth cache is cleared) and within `auth_cache_ttl` on
//! the others; its MCP sessions are closed by the sessions sweep.
//!
//! **Showing a new key once.** Every other form of the app answers with a
//! redirect (post/redirect/get). This one answers the POST itself with the
//! page that shows the key (200, `Cache-Control: no-store`, like every
//! `/app` page): a redirect would need the key to be kept somewhere the next
//! GET can read it again — in the URL (logged by proxies and kept in the
//! history), or in the database, where it would be a recoverable copy of a
//! credential of which we otherwise keep only a hash. Answered directly, the
//! key exists only in that one response: no URL, no table, no log can show
//! it again. Reload and Back re-send the POST (the browser asks first); the
//! form carries a one-time id, claimed in `web_form_drafts` (a marker row,
//! no secret in it) before the key is made, so a re-sent form makes no
//! second key and lands on the list, saying the key was shown already.
//!
//! **Connect your assistant** (`/app/assistants`): ready-to-paste setup for
//! Claude Code, Claude Desktop (stdio), Cursor and VS Code with the
//! gateway's public MCP address and a placeholder for the key (never a real
//! key), and the address to give Claude.ai and ChatGPT when the gateway
//! signs them in with OAuth (`auth.oidc`).

use axum::extract::{Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::form::SummaryItem;
use super::i18n::{Arg, Tr};
use super::pages::{self, notice, time};
use super::{
    Posted, actor, error_page, nav_page, redirect, signed_in, signed_in_post, with_cookies,
};
use crate::accounts;
use crate::error::Error;
use crate::http::audit::audit;
use crate::state::AppState;
use crate::store::{ApiKey, FormDraft, StoreError, User};

/// The most live (not revoked) keys a user may have at once.
pub const MAX_LIVE_KEYS: usize = 20;
/// The longest key name, in characters (and on one line).
const MAX_NAME_CHARS: usize = 40;
/// `web_form_drafts.tool_name` of a claimed create-key form: not a tool
/// name (those have no `:`), so no tool page ever reads it as its draft.
const CREATED_MARKER: &str = "app:api-key-created";

const KEYS_PATH: &str = "/app/api-keys";
const REVOKE_PATH: &str = "/app/api-keys/revoke";
const ASSISTANTS_PATH: &str = "/app/assistants";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(KEYS_PATH, get(keys_page).post(create_key))
        .route(REVOKE_PATH, get(confirm_revoke).post(revoke_key))
        .route(ASSISTANTS_PATH, get(assistants))
}

/// The value of an `Ok`, or return the `Err`, which is already the response.
macro_rules! respond {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

/// A key's problems, by the id the redirect carries (only these are shown:
/// a URL cannot make the page say anything else).
fn form_error(tr: &Tr, id: &str) -> Option<String> {
    match id {
        "name-empty" => Some(tr.t("apikeys-error-name-empty")),
        "name-long" => Some(tr.a("apikeys-error-name-long", &[("max", MAX_NAME_CHARS.into())])),
        "limit" => Some(tr.a("apikeys-limit", &[("max", MAX_LIVE_KEYS.into())])),
        _ => None,
    }
}

/// What is wrong with a key's name, if anything (its error id).
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("name-empty")
    } else if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        Some("name-long")
    } else {
        None
    }
}

#[derive(Deserialize)]
struct KeysQuery {
    /// A refused create: `name-empty`, `name-long` or `limit`.
    error: Option<String>,
    /// The name as typed (after a refused create).
    name: Option<String>,
    /// A create form sent again (reload, Back): its key was shown already.
    resent: Option<String>,
    /// The key just revoked.
    revoked: Option<Uuid>,
}

async fn keys_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KeysQuery>,
) -> Response {
    let (browser, user) = respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let keys = match state.store().list_api_keys(user.id).await {
        Ok(keys) => keys,
        Err(e) => return error_page(&state, &browser, e.into()),
    };
    let error = q.error.as_deref().and_then(|id| form_error(&tr, id));
    let mut notices = Vec::new();
    if q.resent.is_some() {
        notices.push(("info", tr.t("apikeys-resent")));
    }
    // Said only when true: the key is this user's, and revoked.
    if let Some(key) = q
        .revoked
        .and_then(|id| keys.iter().find(|k| k.id == id))
        .filter(|k| k.revoked_at.is_some())
    {
        notices.push((
            "ok",
            tr.a(
                "apikeys-revoked",
                &[
                    ("name", Arg::from(&key.name)),
                    ("value", Arg::from(&key.prefix)),
                ],
            ),
        ));
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let title = if error.is_some() {
        tr.a(
            "title-with-errors",
            &[("title", Arg::from(&tr.t("apikeys-title")))],
        )
    } else {
        tr.t("apikeys-title")
    };
    let csrf = browser.csrf_token(&state);
    let body = keys_list(
        &tr,
        &KeysView {
            csrf: &csrf,
            keys: &keys,
            notices: &notices,
            name: q.name.as_deref().filter(|_| error.is_some()).unwrap_or(""),
            error: error.as_deref(),
            form_id: Uuid::new_v4(),
        },
    );
    nav_page(&state, &browser, status, &title, KEYS_PATH, body)
}

struct KeysView<'a> {
    csrf: &'a str,
    keys: &'a [ApiKey],
    /// (kind, text) of the notices at the top.
    notices: &'a [(&'static str, String)],
    /// The name field's value.
    name: &'a str,
    error: Option<&'a str>,
    /// This rendering's create form (claimed once when sent).
    form_id: Uuid,
}

fn last_used(tr: &Tr, key: &ApiKey) -> Markup {
    match &key.last_used_at {
        Some(at) => time(at),
        None => html! { (tr.t("apikeys-never")) },
    }
}

fn keys_list(tr: &Tr, v: &KeysView<'_>) -> Markup {
    let (live, revoked): (Vec<&ApiKey>, Vec<&ApiKey>) =
        v.keys.iter().partition(|k| k.revoked_at.is_none());
    let at_limit = live.len() >= MAX_LIVE_KEYS;
    let summary: Vec<SummaryItem> = v
        .error
        .map(|text| SummaryItem {
            target: (!at_limit).then(|| "name".to_string()),
            text: text.to_string(),
        })
        .into_iter()
        .collect();
    let field_error = v.error.filter(|_| !at_limit);
    html! {
        h1 { (tr.t("apikeys-title")) }
        p { (tr.t("apikeys-intro")) }
        p { a href=(ASSISTANTS_PATH) { (tr.t("apikeys-setup-link")) } }
        @for (kind, text) in v.notices { (notice(kind, text)) }
        h2 id="keys" { (tr.t("apikeys-list")) }
        @if live.is_empty() { p { (tr.t("apikeys-empty")) } }
        @else {
            div.table role="region" aria-labelledby="keys" tabindex="0" {
                table {
                    caption.visually-hidden { (tr.t("apikeys-list")) }
                    thead { tr {
                        th scope="col" { (tr.t("apikeys-name")) }
                        th scope="col" { (tr.t("apikeys-prefix")) }
                        th scope="col" { (tr.t("apikeys-created")) }
                        th scope="col" { (tr.t("apikeys-last-used")) }
                        th scope="col" { span.visually-hidden { (tr.t("apikeys-actions")) } }
                    } }
                    tbody {
                        @for k in &live {
                            tr {
                                td { (k.name) }
                                td.mono { (k.prefix) "…" }
                                td { (time(&k.created_at)) }
                                td { (last_used(tr, k)) }
                                td {
                                    form method="get" action=(REVOKE_PATH) {
                                        input type="hidden" name="id" value=(k.id);
                                        button.secondary.small type="submit"
                                            aria-label=(tr.a("apikeys-revoke-label", &[("name", Arg::from(&k.name)), ("value", Arg::from(&k.prefix))])) {
                                            (tr.t("apikeys-revoke"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !revoked.is_empty() {
            details.revoked {
                summary { (tr.a("apikeys-revoked-list", &[("n", revoked.len().into())])) }
                div.table role="region" aria-label=(tr.a("apikeys-revoked-list", &[("n", revoked.len().into())])) tabindex="0" {
                    table {
                        thead { tr {
                            th scope="col" { (tr.t("apikeys-name")) }
                            th scope="col" { (tr.t("apikeys-prefix")) }
                            th scope="col" { (tr.t("apikeys-created")) }
                            th scope="col" { (tr.t("apikeys-revoked-at")) }
                        } }
                        tbody {
                            @for k in &revoked {
                                tr {
                                    td { (k.name) }
                                    td.mono { (k.prefix) "…" }
                                    td { (time(&k.created_at)) }
                                    td { @if let Some(at) = &k.revoked_at { (time(at)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="new" { (tr.t("apikeys-new-title")) }
        (pages::error_summary(tr, &summary))
        @if at_limit {
            @if v.error.is_none() {
                (notice("info", &tr.a("apikeys-limit", &[("max", MAX_LIVE_KEYS.into())])))
            }
        } @else {
            form method="post" action=(KEYS_PATH) novalidate {
                input type="hidden" name="_csrf" value=(v.csrf);
                input type="hidden" name="form_id" value=(v.form_id);
                div.field {
                    label for="name" { (tr.t("apikeys-name")) }
                    input type="text" id="name" name="name" value=(v.name) autocomplete="off"
                        maxlength=(MAX_NAME_CHARS) required aria-required="true"
                        aria-describedby=(if field_error.is_some() { "name-help name-error" } else { "name-help" })
                        aria-invalid=[field_error.map(|_| "true")];
                    p.help id="name-help" { (tr.t("apikeys-name-help")) }
                    @if let Some(e) = field_error { p.field-error id="name-error" { (e) } }
                }
                button type="submit" { (tr.t("apikeys-create")) }
            }
        }
    }
}

/// Create a key and show it, once, in this response (see the module's
/// documentation for why this answer is not a redirect).
async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = respond!(signed_in_post(&state, &headers, &posted).await);
    let back = |query: String| {
        let to = if query.is_empty() {
            format!("{KEYS_PATH}#new")
        } else {
            format!("{KEYS_PATH}?{query}#new")
        };
        with_cookies(&browser, redirect(&to), None)
    };
    let Some(form_id) = posted.get("form_id").and_then(|v| Uuid::parse_str(v).ok()) else {
        // Not our page's form: the page, with a form.
        return back(String::new());
    };
    let now = chrono::Utc::now();
    // Sent again (reload, Back): its key was made and shown already.
    match state.store().form_draft(form_id, user.id, now).await {
        Ok(Some(_)) => return back("resent=1".into()),
        Ok(None) => {}
        Err(e) => return error_page(&state, &browser, e.into()),
    }
    let name = posted.get("name").unwrap_or("").trim().to_string();
    if let Some(id) = name_problem(&name) {
        return back(format!("error={id}&name={}", pages::url_encode(&name)));
    }
    let live = match state.store().list_api_keys(user.id).await {
        Ok(keys) => keys.iter().filter(|k| k.revoked_at.is_none()).count(),
        Err(e) => return error_page(&state, &browser, e.into()),
    };
    if live >= MAX_LIVE_KEYS {
        return back("error=limit".into());
    }
    // Claim the form before making its key: of two sends at once, one
    // makes a key, the other finds the claim. The row holds no secret; it
    // lives as long as a web session can (a form older than that is posted
    // by a browser that is signed out).
    let claim = FormDraft {
        id: form_id,
        user_id: user.id,
        tool_name: CREATED_MARKER.into(),
        data: json!({}),
        created_at: now,
        expires_at: now
            + chrono::TimeDelta::from_std(state.config().web.session_ttl)
                .unwrap_or(chrono::TimeDelta::days(1)),
    };
    match state.store().put_form_draft(&claim).await {
        Ok(()) => {}
        Err(StoreError::UniqueViolation { .. }) => return back("resent=1".into()),
        Err(e) => return error_page(&state, &browser, e.into()),
    }
    let (key, secret) = match accounts::create_key(state.store(), user.id, &name).await {
        Ok(created) => created,
        Err(Error::InvalidInput(_)) => {
            return back(format!("error=name-long&name={}", pages::url_encode(&name)));
        }
        Err(e) => return error_page(&state, &browser, e),
    };
    audit(
        &state,
        &actor(&user, "web"),
        "key.create",
        "api_key",
        Some(key.id.to_string()),
        json!({"user_id": user.id, "prefix": key.prefix}),
    )
    .await;
    tracing::info!(user_id = %user.id, key_id = %key.id, prefix = %key.prefix, "API key created in the web app");
    let tr = browser.tr();
    let title = tr.t("apikeys-created-title");
    let body = created_page(&tr, &key, secret.expose_secret());
    let mut response = nav_page(&state, &browser, StatusCode::OK, &title, KEYS_PATH, body);
    // Never kept by a cache (every /app page says so; this one must).
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn created_page(tr: &Tr, key: &ApiKey, secret: &str) -> Markup {
    html! {
        h1 { (tr.t("apikeys-created-title")) }
        (notice("info", &tr.t("apikeys-created-text")))
        h2 id="new-key-label" { (tr.a("apikeys-created-name", &[("name", Arg::from(&key.name))])) }
        pre.output.key id="new-key" tabindex="0"
            data-copy=(tr.t("apikeys-copy")) data-copied=(tr.t("apikeys-copied"))
            data-copy-label=(tr.a("apikeys-copy-label", &[("name", Arg::from(&key.name))])) { (secret) }
        p { (tr.t("apikeys-created-next")) " " a href=(ASSISTANTS_PATH) { (tr.t("apikeys-setup-link")) } }
        p { a.button href=(KEYS_PATH) { (tr.t("apikeys-done")) } }
    }
}

#[derive(Deserialize)]
struct RevokeQuery {
    id: Option<String>,
}

/// This user's key by the id as sent; anything else (no id, a bad one,
/// another user's key) is "not found", alike.
async fn own_key(state: &AppState, user: &User, id: Option<&str>) -> Result<ApiKey, Error> {
    let not_found = || Error::NotFound("no such API key".into());
    let id = id
        .and_then(|id| Uuid::parse_str(id.trim()).ok())
        .ok_or_else(not_found)?;
    match state.store().get_api_key(id).await? {
        Some(key) if key.user_id == user.id => Ok(key),
        _ => Err(not_found()),
    }
}

/// "Revoke this key?": a page of its own (a GET), so that Back from the
/// list after revoking never lands on a posted form.
async fn confirm_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RevokeQuery>,
) -> Response {
    let (browser, user) = respond!(signed_in(&state, &headers).await);
    let key = match own_key(&state, &user, q.id.as_deref()).await {
        Ok(key) => key,
        Err(e) => return error_page(&state, &browser, e),
    };
    if key.revoked_at.is_some() {
        return with_cookies(&browser, redirect(KEYS_PATH), None);
    }
    let tr = browser.tr();
    let csrf = browser.csrf_token(&state);
    let title = tr.t("apikeys-confirm-title");
    let body = html! {
        h1 { (title) }
        p { (tr.a("apikeys-confirm-text", &[("name", Arg::from(&key.name)), ("value", Arg::from(&key.prefix))])) }
        form method="post" action=(REVOKE_PATH) {
            input type="hidden" name="_csrf" value=(csrf);
            input type="hidden" name="id" value=(key.id);
            input type="hidden" name="confirm" value="yes";
            div.actions {
                button.danger type="submit" { (tr.t("apikeys-confirm-yes")) }
                a.button.secondary href=(KEYS_PATH) { (tr.t("cancel")) }
            }
        }
    };
    nav_page(&state, &browser, StatusCode::OK, &title, KEYS_PATH, body)
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = respond!(signed_in_post(&state, &headers, &posted).await);
    let key = match own_key(&state, &user, posted.get("id")).await {
        Ok(key) => key,
        Err(e) => {
            if matches!(e, Error::NotFound(_)) {
                tracing::info!(user_id = %user.id, "web: revoking an API key that is not the user's refused");
            }
            return error_page(&state, &browser, e);
        }
    };
    let done = format!("{KEYS_PATH}?revoked={}", key.id);
    if posted.get("confirm") != Some("yes") {
        // Not confirmed: ask first.
        let to = format!("{REVOKE_PATH}?id={}", key.id);
        return with_cookies(&browser, redirect(&to), None);
    }
    if key.revoked_at.is_none() {
        match accounts::revoke_key(state.store(), &key.id.to_string()).await {
            Ok(_) => {
                // Refused at once here; other replicas within auth_cache_ttl.
                state.forget_callers();
                audit(
                    &state,
                    &actor(&user, "web"),
                    "key.revoke",
                    "api_key",
                    Some(key.id.to_string()),
                    json!({"user_id": user.id, "prefix": key.prefix}),
                )
                .await;
                tracing::info!(user_id = %user.id, key_id = %key.id, prefix = %key.prefix, "API key revoked in the web app");
            }
            // Revoked meanwhile (another tab): the same page either way.
            Err(Error::Conflict(_)) => {}
            Err(e) => return error_page(&state, &browser, e),
        }
    }
    with_cookies(&browser, redirect(&done), None)
}

/// One assistant's setup on the assistants page.
struct Setup {
    /// The HTML id of its snippet.
    id: &'static str,
    /// Its heading (the product's name).
    name: &'static str,
    /// Where it goes, in the reader's words.
    how: String,
    snippet: String,
}

/// The setups for the clients that take an API key, with `key` (a
/// placeholder) where the key goes.
fn setups(tr: &Tr, mcp_url: &str, key: &str) -> Vec<Setup> {
    let bearer = format!("Bearer {key}");
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    vec![
        Setup {
            id: "setup-claude-code",
            name: "Claude Code",
            how: tr.t("assistants-claude-code-how"),
            snippet: format!(
                "claude mcp add --transport http vieagent {mcp_url} --header \"Authorization: {bearer}\""
            ),
        },
        Setup {
            id: "setup-cursor",
            name: "Cursor",
            how: tr.t("assistants-cursor-how"),
            snippet: pretty(json!({
                "mcpServers": {"vieagent": {"url": mcp_url, "headers": {"Authorization": bearer}}}
            })),
        },
        Setup {
            id: "setup-vscode",
            name: "VS Code",
            how: tr.t("assistants-vscode-how"),
            snippet: pretty(json!({
                "servers": {"vieagent": {"type": "http", "url": mcp_url, "headers": {"Authorization": bearer}}}
            })),
        },
        Setup {
            id: "setup-claude-desktop",
            name: "Claude Desktop",
            how: tr.t("assistants-claude-desktop-how"),
            snippet: pretty(json!({
                "mcpServers": {"vieagent": {
                    "command": "/path/to/vieagent",
                    "args": ["stdio"],
                    "env": {
                        "VIEAGENT_DATABASE_URL": "sqlite:///path/to/vieagent.db",
                        "VIEAGENT_API_KEY": key
                    }
                }}
            })),
        },
    ]
}

/// A snippet to paste, with a copy button (added by the page's script;
/// without it the text is there to select).
fn snippet(tr: &Tr, id: &str, what: &str, text: &str) -> Markup {
    html! {
        pre.output.snippet id=(id) tabindex="0"
            data-copy=(tr.t("apikeys-copy")) data-copied=(tr.t("apikeys-copied"))
            data-copy-label=(tr.a("assistants-copy-label", &[("name", Arg::from(what))])) { (text) }
    }
}

async fn assistants(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, _user) = respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let public = state.config().public_base_url();
    let mcp_url = format!("{}/mcp", public.as_str().trim_end_matches('/'));
    let placeholder = tr.t("assistants-key-placeholder");
    let oauth = state.oidc().is_some();
    let title = tr.t("assistants-title");
    let body = html! {
        h1 { (title) }
        p { (tr.t("assistants-intro")) }
        h2 id="address" { (tr.t("assistants-address")) }
        (snippet(&tr, "mcp-url", &tr.t("assistants-address"), &mcp_url))
        h2 id="with-a-key" { (tr.t("assistants-with-key")) }
        p {
            (tr.a("assistants-with-key-text", &[("value", Arg::from(&placeholder))])) " "
            a href=(KEYS_PATH) { (tr.t("assistants-keys-link")) }
        }
        @for s in setups(&tr, &mcp_url, &placeholder) {
            section aria-labelledby=(format!("{}-title", s.id)) {
                h3 id=(format!("{}-title", s.id)) { (s.name) }
                p { (s.how) }
                (snippet(&tr, s.id, s.name, &s.snippet))
            }
        }
        h2 id="oauth" { (tr.t("assistants-oauth")) }
        @if oauth {
            p { (tr.t("assistants-oauth-text")) }
            (snippet(&tr, "oauth-url", &tr.t("assistants-oauth"), &mcp_url))
            ul {
                li { (tr.t("assistants-oauth-claude")) }
                li { (tr.t("assistants-oauth-chatgpt")) }
            }
        } @else {
            (notice("info", &tr.t("assistants-oauth-off")))
        }
    };
    nav_page(
        &state,
        &browser,
        StatusCode::OK,
        &title,
        ASSISTANTS_PATH,
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    #[test]
    fn names_are_checked() {
        assert_eq!(name_problem(""), Some("name-empty"));
        assert_eq!(name_problem("Cursor on my laptop"), None);
        assert_eq!(name_problem("Máy tính ở nhà"), None);
        assert_eq!(name_problem(&"x".repeat(MAX_NAME_CHARS)), None);
        assert_eq!(
            name_problem(&"x".repeat(MAX_NAME_CHARS + 1)),
            Some("name-long")
        );
        assert_eq!(name_problem("a\nb"), Some("name-long"));
        // Only known errors are shown.
        let tr = Tr::new(Lang::En);
        assert!(form_error(&tr, "limit").is_some_and(|t| t.contains("20")));
        assert_eq!(form_error(&tr, "keys-title"), None);
    }

    /// Every message of this page's catalogs, with its arguments, in both
    /// languages (the app-wide id test covers what the code names).
    #[test]
    fn every_account_message_renders() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/locales/en/account.ftl");
        let ftl = std::fs::read_to_string(path).expect("catalog");
        let ids: Vec<&str> = ftl
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim()))
            .collect();
        assert!(ids.len() > 40, "{ids:?}");
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            for id in &ids {
                let text = tr.a(
                    id,
                    &[
                        ("name", Arg::from("n")),
                        ("value", Arg::from("v")),
                        ("max", 20.into()),
                        ("n", 2.into()),
                    ],
                );
                assert!(text != *id && !text.is_empty(), "{id} in {}", lang.code());
            }
        }
    }

    #[test]
    fn setups_are_valid_and_hold_no_key() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            let key = tr.t("assistants-key-placeholder");
            let url = "https://gateway.example.com/mcp";
            for s in setups(&tr, url, &key) {
                assert!(s.snippet.contains(&key), "{}", s.snippet);
                assert!(!s.snippet.contains("vak_"), "{}", s.snippet);
                if s.snippet.starts_with('{') {
                    let v: serde_json::Value = serde_json::from_str(&s.snippet).expect("JSON");
                    let server = v["mcpServers"]["vieagent"]
                        .as_object()
                        .or(v["servers"]["vieagent"].as_object())
                        .expect("a vieagent server");
                    if let Some(u) = server.get("url") {
                        assert_eq!(u, url);
                        assert_eq!(server["headers"]["Authorization"], format!("Bearer {key}"));
                    } else {
                        assert_eq!(server["args"], json!(["stdio"]));
                        assert_eq!(server["env"]["VIEAGENT_API_KEY"], key.as_str());
                    }
                } else {
                    assert!(
                        s.snippet
                            .starts_with("claude mcp add --transport http vieagent ")
                    );
                }
            }
        }
    }
}
