//! The Easy Mode web app at `/app`, for the people who buy agents: sign in
//! with an API key, see their tools, run one from a form rendered from its
//! `input_schema`, find agents in the marketplace and choose the ones their
//! assistant sees (`catalog.rs`), read their history and credits, and
//! manage their provider keys. Connect links (sent by a call that lacks a
//! key) open `/app/connect`, where the key goes from the browser to the
//! Vault.
//! Every page speaks Vietnamese and English (`i18n.rs`).
//!
//! Served by the binary itself: HTML rendered on the server, one stylesheet,
//! one small script and an icon embedded in the binary, nothing from a CDN.
//! Security: CSRF tokens on every state-changing form (`browser.rs`), a
//! strict Content-Security-Policy with `frame-ancestors 'none'`, no referrer
//! (a connect link's token never leaks to another site), `no-store`
//! caching, every value escaped (`pages.rs`), and a user only ever sees their
//! own rows. Every run goes through the one call pipeline (journal,
//! credits, Vault). Forms that change something answer with a redirect
//! (post/redirect/get), so Back and reload never send them again; a form
//! with mistakes is shown again with them, having changed nothing.

mod account;
mod browser;
mod catalog;
pub mod form;
pub mod i18n;
mod pages;
mod signin;

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::Markup;
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::billing;
use crate::calls::{self, CallError, CallRequest};
use crate::config::ToolboxMode;
use crate::error::{Error, FieldError, Result};
use crate::http::auth::AdminActor;
use crate::http::credentials::{self as creds, CredentialPut};
use crate::portal::{self, LinkError};
use crate::state::AppState;
use crate::store::toolbox::TOOLBOX;
use crate::store::{Agent, ExecutionLogFilter, ExecutionStatus, FormDraft, User};
use crate::toolbox::Scope;

use browser::{Browser, CSRF_FIELD};
use i18n::{Arg, Lang, Tr};

/// The value of an `Ok`, or return the `Err`, which is already the response
/// to send (the sign-in redirect, the CSRF refusal).
macro_rules! or_respond {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}
use form::FormState;
use pages::{Chrome, RunOutcome};

/// The Content-Security-Policy of every page. Forms post to this app only,
/// and, when people sign in with the marketplace account, to its identity
/// provider too: signing out redirects there (`form-action` also governs a
/// form's redirects).
fn csp(state: &AppState) -> HeaderValue {
    let provider = state
        .config()
        .web
        .oidc
        .as_ref()
        .and(state.config().auth.oidc.as_ref())
        .and_then(|o| url::Url::parse(&o.issuer).ok())
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self'{provider}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
    })
}

pub fn routes(state: &AppState) -> Router {
    Router::new()
        .route("/app", get(index))
        .route("/app/", get(index))
        .route("/app/login", get(login_page).post(login))
        .route("/app/logout", post(logout))
        .route("/app/signin", get(signin::start))
        .route(signin::CALLBACK_PATH, get(signin::callback))
        .route("/app/lang/{lang}", get(choose_language))
        .route("/app/tools", get(tools))
        .route("/app/tools/{tool}", get(tool_page).post(run_tool))
        .route("/app/history", get(history))
        .route("/app/history/{id}", get(execution))
        .route("/app/credits", get(credits))
        .route(
            "/app/credentials",
            get(credentials_page).post(save_credential),
        )
        .route(
            "/app/credentials/delete",
            get(confirm_delete).post(delete_credential),
        )
        .route(portal::CONNECT_PATH, get(connect_page).post(connect))
        .route("/app/connect/done", get(connect_done))
        .route("/app/assets/app.css", get(css))
        .route("/app/assets/app.js", get(js))
        .route("/app/assets/favicon.svg", get(favicon))
        .merge(account::routes())
        .merge(catalog::routes())
        .layer(axum::middleware::map_response({
            let csp = csp(state);
            move |response| security_headers(response, csp.clone())
        }))
        .with_state(state.clone())
}

async fn security_headers(mut response: Response, csp: HeaderValue) -> Response {
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, csp);
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

async fn favicon() -> Response {
    asset("image/svg+xml", pages::FAVICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A page for `browser`, with its cookies.
fn page(browser: &Browser, status: StatusCode, markup: Markup) -> Response {
    with_cookies(
        browser,
        (status, axum::response::Html(markup.into_string())).into_response(),
        None,
    )
}

/// `response` with the browser's cookies and `extra` ones.
fn with_cookies(
    browser: &Browser,
    response: Response,
    extra: impl IntoIterator<Item = String>,
) -> Response {
    append_cookies(response, browser.set_cookies().into_iter().chain(extra))
}

/// `response` with these `Set-Cookie` headers.
fn append_cookies(mut response: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for cookie in cookies {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

/// A page that only says something: its heading (also its title), one
/// sentence and one link; `here` is where the language switcher returns.
fn message(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    (heading, text): (&str, &str),
    link: (&str, &str),
    here: &str,
) -> Response {
    let spec = PageSpec {
        status,
        title: heading,
        current: "",
        here,
    };
    app_page(
        state,
        browser,
        spec,
        pages::message_page(heading, text, Some(link)),
    )
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

/// A whole page with the app's chrome.
struct PageSpec<'a> {
    status: StatusCode,
    title: &'a str,
    current: &'a str,
    /// The path (and query) to come back to after changing language.
    here: &'a str,
}

fn app_page(state: &AppState, browser: &Browser, spec: PageSpec<'_>, body: Markup) -> Response {
    let csrf = browser.csrf_token(state);
    let chrome = Chrome {
        title: spec.title,
        email: browser.user().map(|u| u.email.as_str()),
        csrf: &csrf,
        current: spec.current,
        here: spec.here,
    };
    page(
        browser,
        spec.status,
        pages::layout(&browser.tr(), &chrome, body),
    )
}

/// A page of the signed-in navigation.
fn nav_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    title: &str,
    current: &str,
    body: Markup,
) -> Response {
    let spec = PageSpec {
        status,
        title,
        current,
        here: current,
    };
    app_page(state, browser, spec, body)
}

/// An error as a page, in the reader's language: what they can do for
/// their mistakes, an opaque text for the server's (its cause goes to the
/// log).
fn error_page(state: &AppState, browser: &Browser, error: Error) -> Response {
    let tr = browser.tr();
    let status = error.status();
    let (heading, text) = match status {
        s if s.is_server_error() => {
            // Logs the cause.
            let _ = error.public_detail();
            (tr.t("error-server-title"), tr.t("error-server-text"))
        }
        StatusCode::NOT_FOUND => (tr.t("error-title"), tr.t("error-not-found-text")),
        StatusCode::TOO_MANY_REQUESTS => (tr.t("error-title"), tr.t("error-busy-text")),
        _ => (tr.t("error-title"), error.public_detail()),
    };
    let back = tr.t("back-to-tools");
    message(
        state,
        browser,
        status,
        (&heading, &text),
        ("/app/tools", &back),
        "/app/tools",
    )
}

fn forbidden_csrf(state: &AppState, browser: &Browser) -> Response {
    let tr = browser.tr();
    let (title, text, again) = (tr.t("csrf-title"), tr.t("csrf-text"), tr.t("start-again"));
    message(
        state,
        browser,
        StatusCode::FORBIDDEN,
        (&title, &text),
        ("/app", &again),
        "/app",
    )
}

/// The posted fields, in order.
struct Posted(Vec<(String, String)>);

impl Posted {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The browser, signed in; otherwise the response to send (the sign-in page).
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> std::result::Result<(Browser, Arc<User>), Response> {
    match Browser::of(state, headers).await {
        Ok(browser) => match browser.user().cloned() {
            Some(user) => Ok((browser, user)),
            None => Err(with_cookies(&browser, redirect("/app/login"), None)),
        },
        Err(e) => Err(plain_error(e)),
    }
}

/// When even the browser could not be read (database down): both languages.
fn plain_error(e: Error) -> Response {
    let status = e.status();
    let _ = e.public_detail();
    (
        status,
        axum::response::Html(pages::bilingual_error().into_string()),
    )
        .into_response()
}

/// A signed-in browser posting a form with a valid CSRF token.
async fn signed_in_post(
    state: &AppState,
    headers: &HeaderMap,
    posted: &Posted,
) -> std::result::Result<(Browser, Arc<User>), Response> {
    let (browser, user) = signed_in(state, headers).await?;
    match csrf_refusal(state, &browser, posted) {
        Some(refusal) => Err(refusal),
        None => Ok((browser, user)),
    }
}

/// The browser, signed in or not.
async fn any_browser(
    state: &AppState,
    headers: &HeaderMap,
) -> std::result::Result<Browser, Response> {
    Browser::of(state, headers).await.map_err(plain_error)
}

/// A browser, signed in or not, posting a form with a valid CSRF token.
async fn posting_browser(
    state: &AppState,
    headers: &HeaderMap,
    posted: &Posted,
) -> std::result::Result<Browser, Response> {
    let browser = any_browser(state, headers).await?;
    match csrf_refusal(state, &browser, posted) {
        Some(refusal) => Err(refusal),
        None => Ok(browser),
    }
}

/// The 403 page for a form without this browser's CSRF token, if it lacks it.
fn csrf_refusal(state: &AppState, browser: &Browser, posted: &Posted) -> Option<Response> {
    (!browser.csrf_ok(state, posted.get(CSRF_FIELD))).then(|| forbidden_csrf(state, browser))
}

fn actor(user: &User, via: &str) -> AdminActor {
    AdminActor {
        user_id: Some(user.id),
        label: format!("{via}:{}", user.email),
    }
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Browser::of(&state, &headers).await {
        Ok(b) if b.user().is_some() => redirect("/app/tools"),
        Ok(b) => with_cookies(&b, redirect("/app/login"), None),
        Err(e) => plain_error(e),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// A path of this app to come back to (never another site).
fn local_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with("/app")
                && n.len() <= 256
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n'])
                && !n.starts_with("/app/lang/") =>
        {
            n
        }
        _ => "/app",
    }
}

/// The language switcher: keep the choice, go back where the person was.
async fn choose_language(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(lang): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let browser = or_respond!(any_browser(&state, &headers).await);
    let next = local_next(q.next.as_deref());
    match Lang::parse(&lang).filter(|l| l.code() == lang) {
        Some(lang) => {
            let cookie = browser.lang_cookie_header(lang);
            with_cookies(&browser, redirect(next), Some(cookie))
        }
        None => with_cookies(&browser, redirect(next), None),
    }
}

fn login_form(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let tr = browser.tr();
    let csrf = browser.csrf_token(state);
    let title = tr.t("login-title");
    let web = &state.config().web;
    let ways = pages::SignInWays {
        marketplace: web.oidc.is_some() && state.oidc().is_some(),
        api_key: web.api_key_sign_in,
    };
    app_page(
        state,
        browser,
        PageSpec {
            status,
            title: &title,
            current: "",
            here: "/app/login",
        },
        pages::login(
            &tr,
            &csrf,
            error,
            ways,
            state
                .config()
                .marketplace
                .signup_url
                .as_ref()
                .map(url::Url::as_str),
        ),
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    error: Option<String>,
}

/// Why a sign-in was refused, as the redirect to the form says it.
const LOGIN_ERRORS: [(&str, &str); 3] = [
    ("empty", "login-error-empty"),
    ("invalid", "login-error-invalid"),
    ("disabled", "login-error-disabled"),
];

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    match Browser::of(&state, &headers).await {
        Ok(b) if b.user().is_some() => redirect("/app/tools"),
        Ok(b) => {
            let error = LOGIN_ERRORS
                .iter()
                .find(|(code, _)| q.error.as_deref() == Some(*code))
                .map(|(_, id)| b.tr().t(id));
            let status = if error.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            login_form(&state, &b, status, error.as_deref())
        }
        Err(e) => plain_error(e),
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let browser = or_respond!(posting_browser(&state, &headers, &posted).await);
    if !state.config().web.api_key_sign_in {
        return error_page(
            &state,
            &browser,
            Error::NotFound("API-key sign-in is off".into()),
        );
    }
    // Refused: back to the form (post/redirect/get), the key not kept.
    let refuse = |code: &str| {
        with_cookies(
            &browser,
            redirect(&format!("/app/login?error={code}")),
            None,
        )
    };
    let key = posted.get("api_key").unwrap_or("").trim();
    if key.is_empty() {
        return refuse("empty");
    }
    let user = match state.auth().authenticate(state.store_arc(), key).await {
        Ok(Some(auth)) => auth.user,
        Ok(None) => return refuse("invalid"),
        Err(e) => return error_page(&state, &browser, e),
    };
    if user.disabled_at.is_some() {
        return refuse("disabled");
    }
    let ttl = state.config().web.session_ttl;
    let session = match portal::start_session(state.store(), user.id, ttl).await {
        Ok(s) => s,
        Err(e) => return error_page(&state, &browser, e),
    };
    // A session that was open in this browser ends (no fixation).
    if let Some(old) = &browser.session_cookie
        && let Err(e) = portal::end_session(state.store(), old).await
    {
        tracing::warn!(error = %e, "could not end the previous web session");
    }
    tracing::info!(user_id = %user.id, session_id = %session.session.id, "web sign-in");
    let cookie = browser.session_cookie_header(session.cookie.expose_secret(), ttl.as_secs());
    with_cookies(&browser, redirect("/app/tools"), Some(cookie))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let browser = or_respond!(posting_browser(&state, &headers, &posted).await);
    if let Some(cookie) = &browser.session_cookie
        && let Err(e) = portal::end_session(state.store(), cookie).await
    {
        return error_page(&state, &browser, e.into());
    }
    let clear = browser.clear_session_cookie_header();
    // Signed in at the identity provider: sign out there too, where it
    // offers it, and come back to the sign-in page.
    let via_provider = browser::cookie(&headers, signin::VIA_COOKIE) == Some("oidc");
    let mut to = "/app/login".to_string();
    if via_provider
        && let (Some(oidc), Some(client)) = (state.oidc(), state.config().web.oidc.as_ref())
    {
        let back = format!(
            "{}/app/login",
            state
                .config()
                .public_base_url()
                .as_str()
                .trim_end_matches('/')
        );
        if let Some(url) = oidc.end_session_url(client, None, &back).await {
            to = url.to_string();
        }
    }
    with_cookies(
        &browser,
        redirect(&to),
        [clear, signin::via_cookie(&browser, "", 0)],
    )
}

async fn tools(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(done): Query<catalog::Done>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let loaded = async {
        let held = holdings(&state, &user).await?;
        let rows = tool_rows(&state, &user, &tr, &held).await?;
        Ok::<_, Error>((held, rows))
    }
    .await;
    match loaded {
        Ok((held, rows)) => {
            let csrf = browser.csrf_token(&state);
            let view = pages::ToolsView {
                chosen: state.config().catalog.toolbox == ToolboxMode::Chosen,
                csrf: &csrf,
                notice: catalog::done_notice(&state, &tr, &held, &done),
            };
            nav_page(
                &state,
                &browser,
                StatusCode::OK,
                &tr.t("tools-title"),
                "/app/tools",
                pages::tools(&tr, &rows, &view),
            )
        }
        Err(e) => error_page(&state, &browser, e),
    }
}

/// "9.99 USD one-time", "4.99 USD a month", in the reader's language.
fn price_text(tr: &Tr, agent: &Agent, currency: &str) -> Option<String> {
    let amount = |p: Decimal| format!("{p:.2}");
    let positive = |p: Option<Decimal>| p.filter(|p| *p > Decimal::ZERO);
    let one_time = positive(agent.price_one_time).map(|p| {
        tr.a(
            "price-one-time",
            &[
                ("amount", Arg::from(&amount(p))),
                ("currency", Arg::from(currency)),
            ],
        )
    });
    let monthly = positive(agent.price_monthly).map(|p| {
        tr.a(
            "price-monthly",
            &[
                ("amount", Arg::from(&amount(p))),
                ("currency", Arg::from(currency)),
            ],
        )
    });
    match (one_time, monthly) {
        (Some(a), Some(b)) => Some(tr.a(
            "price-either",
            &[("first", Arg::from(&a)), ("second", Arg::from(&b))],
        )),
        (a, b) => a.or(b),
    }
}

/// What a page showing agents needs to know of the user: what they
/// bought, their toolbox, the providers of the keys they stored.
struct Holdings {
    entitled: HashSet<Uuid>,
    toolbox: Arc<Vec<Uuid>>,
    stored: Vec<String>,
}

async fn holdings(state: &AppState, user: &User) -> Result<Holdings> {
    let p = state.calls();
    Ok(Holdings {
        entitled: p.entitlements().active_agents(p.store(), user.id).await?,
        toolbox: p.toolboxes().agents(p.store(), user.id, TOOLBOX).await?,
        stored: state
            .vault()
            .list(user.id)
            .await?
            .into_iter()
            .map(|c| c.provider)
            .collect(),
    })
}

/// An agent as a card; its Buy link comes back to `back`.
fn tool_row(
    state: &AppState,
    tr: &Tr,
    agent: &Agent,
    held: &Holdings,
    back: &str,
) -> pages::ToolRow {
    let priced = billing::is_priced(agent);
    let bought = held.entitled.contains(&agent.id);
    let buy_url = (priced && !bought)
        .then(|| market_links(state, Some(agent), back).buy)
        .flatten();
    pages::ToolRow {
        buy_url,
        name: agent.tool_name.clone(),
        title: agent.name.clone(),
        description: agent.description.clone(),
        price: price_text(tr, agent, &state.config().billing.currency),
        credits_per_call: agent.credits_per_call,
        bought,
        priced,
        credentials: agent
            .required_credential_types
            .iter()
            .map(|p| (p.clone(), held.stored.contains(p)))
            .collect(),
        in_toolbox: held.toolbox.contains(&agent.id),
    }
}

/// The Tools page's rows: what the user's assistant sees (the catalog, or
/// with `catalog.toolbox = "chosen"` their toolbox).
async fn tool_rows(
    state: &AppState,
    user: &User,
    tr: &Tr,
    held: &Holdings,
) -> Result<Vec<pages::ToolRow>> {
    let scope = Scope::of(state.config(), None);
    let visible = calls::visible_tools(state.calls(), user, &scope).await?;
    let snapshot = state.catalog().snapshot();
    Ok(visible
        .iter()
        .filter_map(|tool| snapshot.get(&tool.name))
        .map(|entry| tool_row(state, tr, &entry.agent, held, "/app/tools"))
        .collect())
}

/// The marketplace's pages to buy `agent` and to top up credits, each
/// coming back to `back` (a path of this app) afterwards.
fn market_links(state: &AppState, agent: Option<&Agent>, back: &str) -> pages::MarketLinks {
    let config = state.config();
    let return_to = format!(
        "{}{back}",
        config.public_base_url().as_str().trim_end_matches('/')
    );
    pages::MarketLinks {
        buy: agent
            .and_then(|a| {
                config
                    .marketplace
                    .agent_page(&a.id.to_string(), &a.tool_name, Some(&return_to))
            })
            .map(String::from),
        top_up: config
            .marketplace
            .credits_page(Some(&return_to))
            .map(String::from),
    }
}

/// The catalog entry of a tool the user may see. The web app is the
/// user's own hands, not an assistant: it opens any agent of the catalog,
/// in the toolbox or not.
async fn visible_entry(
    state: &AppState,
    user: &User,
    name: &str,
) -> Result<Arc<crate::catalog::CatalogEntry>> {
    let visible = calls::visible_tools(state.calls(), user, &Scope::Catalog).await?;
    visible
        .iter()
        .find(|t| t.name == name)
        .and_then(|_| state.catalog().snapshot().get(name).cloned())
        .ok_or_else(|| Error::NotFound(format!("there is no tool named '{name}' for you")))
}

#[derive(Deserialize)]
struct ToolQuery {
    /// An earlier run (from the history): its arguments fill the form.
    run: Option<Uuid>,
    /// The form as this browser last sent it.
    draft: Option<Uuid>,
}

/// How long a form's draft is kept.
const DRAFT_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// A draft's contents.
#[derive(serde::Serialize, Deserialize)]
struct DraftData {
    fields: Vec<(String, String)>,
    /// Show the validator's problems with the fields.
    check: bool,
    outcome: Option<RunOutcome>,
}

async fn tool_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<ToolQuery>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let entry = match visible_entry(&state, &user, &name).await {
        Ok(entry) => entry,
        Err(e) => return error_page(&state, &browser, e),
    };
    let ok = StatusCode::OK;
    if let Some(id) = q.draft {
        let draft = match state
            .store()
            .form_draft(id, user.id, chrono::Utc::now())
            .await
        {
            Ok(draft) => draft.filter(|d| d.tool_name == entry.agent.tool_name),
            Err(e) => return error_page(&state, &browser, e.into()),
        };
        let data = draft.and_then(|d| serde_json::from_value::<DraftData>(d.data).ok());
        let Some(data) = data else {
            // Expired (an hour on): the form afresh, saying so.
            let outcome = RunOutcome::Failed {
                text: tr.t("draft-expired"),
                execution_id: None,
                kind: None,
            };
            return render_tool(
                &state,
                &browser,
                &user,
                ok,
                &entry,
                &FormState::default(),
                Some(outcome),
            )
            .await;
        };
        let mut form_state = FormState::from_pairs(&data.fields);
        if data.check {
            let schema = &entry.agent.input_schema;
            let problems = calls::argument_errors(
                &entry.validator,
                schema,
                &form::arguments(schema, &form_state),
            );
            form_state.attach_errors(schema, &problems, &tr);
        }
        return render_tool(
            &state,
            &browser,
            &user,
            ok,
            &entry,
            &form_state,
            data.outcome,
        )
        .await;
    }
    let Some(run) = q.run else {
        return render_tool(
            &state,
            &browser,
            &user,
            ok,
            &entry,
            &FormState::default(),
            None,
        )
        .await;
    };
    match state.store().get_execution_log(run).await {
        Ok(Some(row)) if row.user_id == user.id && row.agent_id == entry.agent.id => {
            let form_state = row
                .input_snapshot
                .as_ref()
                .map(FormState::from_arguments)
                .unwrap_or_default();
            let outcome = outcome_of_row(&row);
            render_tool(
                &state,
                &browser,
                &user,
                ok,
                &entry,
                &form_state,
                Some(outcome),
            )
            .await
        }
        Ok(_) => {
            render_tool(
                &state,
                &browser,
                &user,
                ok,
                &entry,
                &FormState::default(),
                None,
            )
            .await
        }
        Err(e) => error_page(&state, &browser, e.into()),
    }
}

/// Keep the form as sent and send the browser to see it: the answer of
/// every post of a tool's form.
async fn to_draft(
    state: &AppState,
    browser: &Browser,
    user: &User,
    tool: &str,
    data: DraftData,
    anchor: &str,
) -> Response {
    let now = chrono::Utc::now();
    let draft = FormDraft {
        id: Uuid::new_v4(),
        user_id: user.id,
        tool_name: tool.to_string(),
        data: match serde_json::to_value(&data) {
            Ok(v) => v,
            Err(e) => return error_page(state, browser, Error::Internal(format!("draft: {e}"))),
        },
        created_at: now,
        expires_at: now + DRAFT_TTL,
    };
    if let Err(e) = state.store().put_form_draft(&draft).await {
        return error_page(state, browser, e.into());
    }
    with_cookies(
        browser,
        redirect(&format!("/app/tools/{tool}?draft={}{anchor}", draft.id)),
        None,
    )
}

/// What a journal row says of its call, for a page shown after the fact.
fn outcome_of_row(row: &crate::store::ExecutionLog) -> RunOutcome {
    let execution_id = Some(row.id.to_string());
    match row.status {
        ExecutionStatus::Success => RunOutcome::Success {
            text: row
                .output_snapshot
                .as_ref()
                .map(result_text)
                .unwrap_or_default(),
            execution_id,
            credits: row.credits_consumed,
        },
        // The row keeps no error kind: a sentence in the reader's words,
        // the recorded text under it.
        ExecutionStatus::Failed => RunOutcome::Failed {
            text: row.error.clone().unwrap_or_default(),
            execution_id,
            kind: Some("failed".into()),
        },
        ExecutionStatus::Pending | ExecutionStatus::Running => RunOutcome::Running {
            execution_id: row.id.to_string(),
        },
    }
}

/// A stored result as text: its `text` when it has one, else the JSON.
fn result_text(output: &serde_json::Value) -> String {
    match output.get("text").and_then(serde_json::Value::as_str) {
        Some(text) => text.to_string(),
        None => serde_json::to_string_pretty(output).unwrap_or_default(),
    }
}

async fn render_tool(
    state: &AppState,
    browser: &Browser,
    user: &User,
    status: StatusCode,
    entry: &crate::catalog::CatalogEntry,
    form_state: &FormState,
    outcome: Option<RunOutcome>,
) -> Response {
    let tr = browser.tr();
    let agent = &entry.agent;
    let csrf = browser.csrf_token(state);
    let available = match state.store().credit_account(user.id).await {
        Ok(account) => Some(account.balance - account.reserved),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the credit balance for the form");
            None
        }
    };
    let not_bought = billing::is_priced(agent)
        && !state
            .entitlements()
            .active_agents(state.store(), user.id)
            .await
            .is_ok_and(|ids| ids.contains(&agent.id));
    let body = pages::tool_form(
        &tr,
        pages::ToolForm {
            name: &agent.tool_name,
            title: &agent.name,
            description: &agent.description,
            csrf: &csrf,
            fields: form::render(&agent.input_schema, form_state, &tr),
            summary: &form_state.summary,
            outcome,
            credits_per_call: agent.credits_per_call,
            available,
            price: price_text(&tr, agent, &state.config().billing.currency),
            not_bought,
            links: market_links(
                state,
                Some(agent),
                &format!("/app/tools/{}", agent.tool_name),
            ),
        },
    );
    let here = format!("/app/tools/{}", agent.tool_name);
    let title = if form_state.summary.is_empty() {
        agent.name.clone()
    } else {
        tr.a("title-with-errors", &[("title", Arg::from(&agent.name))])
    };
    app_page(
        state,
        browser,
        PageSpec {
            status,
            title: &title,
            current: "/app/tools",
            here: &here,
        },
        body,
    )
}

async fn run_tool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = or_respond!(signed_in_post(&state, &headers, &posted).await);
    let entry = match visible_entry(&state, &user, &name).await {
        Ok(e) => e,
        Err(e) => return error_page(&state, &browser, e),
    };
    let mut form_state = FormState::from_pairs(&posted.0);
    // Whatever the post did, the answer is a redirect to the form as sent
    // (post/redirect/get): reloading, Back and Forward never run it again.
    let (check, outcome, anchor) = if let Some(array) = posted.get("_add") {
        // Adding or removing a row runs nothing: the form again, changed.
        form_state.add_row(array);
        let last = format!("{array}/{}", form_state.rows(array).saturating_sub(1));
        (false, None, format!("#{}", form::field_id(&last)))
    } else if let Some(row) = posted.get("_remove") {
        form_state.remove_row(row);
        let array = row.rsplit_once('/').map_or("", |(a, _)| a);
        (false, None, format!("#{}", form::field_id(array)))
    } else {
        match run(&state, &browser.tr(), &user, &entry, &form_state).await {
            Some(outcome) => (false, Some(outcome), "#result-section".to_string()),
            None => (true, None, String::new()),
        }
    };
    let data = DraftData {
        fields: form_state.to_pairs(),
        check,
        outcome,
    };
    to_draft(
        &state,
        &browser,
        &user,
        &entry.agent.tool_name,
        data,
        &anchor,
    )
    .await
}

/// Run the tool with the form's arguments: what came of it, or `None` when
/// the arguments have mistakes (shown in the reader's words; nothing is
/// run or journaled).
async fn run(
    state: &AppState,
    tr: &Tr,
    user: &Arc<User>,
    entry: &crate::catalog::CatalogEntry,
    form_state: &FormState,
) -> Option<RunOutcome> {
    let schema = &entry.agent.input_schema;
    let arguments = form::arguments(schema, form_state);
    if !calls::argument_errors(&entry.validator, schema, &arguments).is_empty() {
        return None;
    }
    let request = CallRequest {
        user: user.clone(),
        tool_name: entry.agent.tool_name.clone(),
        arguments,
        progress: None,
        cancel: CancellationToken::new(),
        session_id: None,
        transport: "web",
        scope: Scope::Catalog,
    };
    let result = match calls::call(state.calls(), request).await {
        Ok(result) => result,
        Err(e) => {
            let id = match e {
                CallError::Limited { .. } => "run-error-limited",
                CallError::JournalUnavailable(_) => "run-error-journal",
                _ => "run-error-unavailable",
            };
            tracing::warn!(error = %e, "web run refused");
            return Some(RunOutcome::Failed {
                text: tr.t(id),
                execution_id: None,
                kind: None,
            });
        }
    };
    let execution_id = result.execution_id.map(|id| id.to_string());
    Some(match result.error_kind.as_deref() {
        None => RunOutcome::Success {
            text: result.text,
            execution_id,
            credits: result.credits_consumed,
        },
        // The catalog changed between the check above and the call.
        Some("invalid_arguments") => return None,
        Some("missing_credentials") => RunOutcome::MissingCredentials {
            providers: result
                .missing_credentials()
                .map(|(providers, _)| providers)
                .unwrap_or_default(),
        },
        Some(kind) => RunOutcome::Failed {
            kind: Some(kind.to_string()),
            text: result.text,
            execution_id,
        },
    })
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    const PAGE: u32 = 50;
    let before = q.before.as_deref().and_then(|c| {
        let (at, id) = c.split_once('_')?;
        Some((
            chrono::DateTime::parse_from_rfc3339(at)
                .ok()?
                .with_timezone(&chrono::Utc),
            id.parse::<Uuid>().ok()?,
        ))
    });
    let filter = ExecutionLogFilter {
        user_id: Some(user.id),
        before,
        limit: Some(PAGE),
        ..Default::default()
    };
    let rows = match state.store().list_execution_logs(&filter).await {
        Ok(rows) => rows,
        Err(e) => return error_page(&state, &browser, e.into()),
    };
    let older = (rows.len() == PAGE as usize)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            format!(
                "{}_{}",
                r.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                r.id
            )
        });
    let mut names = std::collections::HashMap::new();
    let mut named = Vec::with_capacity(rows.len());
    for row in rows {
        let name = match names.get(&row.agent_id) {
            Some(name) => String::clone(name),
            None => {
                let name = agent_name(&state, &tr, row.agent_id).await;
                names.insert(row.agent_id, name.clone());
                name
            }
        };
        named.push((row, name));
    }
    nav_page(
        &state,
        &browser,
        StatusCode::OK,
        &tr.t("history-title"),
        "/app/history",
        pages::history(&tr, &named, older),
    )
}

/// The agent's display name for a row (errors read as a removed agent:
/// the page still shows the row).
async fn agent_name(state: &AppState, tr: &Tr, agent_id: Uuid) -> String {
    if let Some(entry) = state
        .catalog()
        .snapshot()
        .entries()
        .find(|e| e.agent.id == agent_id)
    {
        return entry.agent.name.clone();
    }
    match state.store().get_agent(agent_id).await {
        Ok(Some(agent)) => agent.name,
        _ => tr.t("history-removed-tool"),
    }
}

async fn execution(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let not_found = || Error::NotFound("there is no such call in your history".into());
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(&state, &browser, not_found());
    };
    match state.store().get_execution_log(id).await {
        // Another user's row is indistinguishable from no row.
        Ok(Some(row)) if row.user_id == user.id => {
            let name = agent_name(&state, &tr, row.agent_id).await;
            let tool = state
                .catalog()
                .tool_name(state.store(), row.agent_id)
                .await
                .ok()
                .flatten();
            let again = match &tool {
                Some(tool) if visible_entry(&state, &user, tool).await.is_ok() => {
                    Some(format!("/app/tools/{tool}?run={}", row.id))
                }
                _ => None,
            };
            let title = tr.a("call-title", &[("tool", Arg::from(&name))]);
            nav_page(
                &state,
                &browser,
                StatusCode::OK,
                &title,
                "/app/history",
                pages::execution(&tr, &row, &name, again.as_deref()),
            )
        }
        Ok(_) => error_page(&state, &browser, not_found()),
        Err(e) => error_page(&state, &browser, e.into()),
    }
}

async fn credits(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let loaded = async {
        let account = state.store().credit_account(user.id).await?;
        let ledger = state.store().list_ledger(user.id, None, 100).await?;
        Ok::<_, Error>((account, ledger))
    }
    .await;
    match loaded {
        Ok((account, ledger)) => nav_page(
            &state,
            &browser,
            StatusCode::OK,
            &tr.t("credits-title"),
            "/app/credits",
            pages::credits(
                &tr,
                account.balance,
                account.reserved,
                &ledger,
                market_links(&state, None, "/app/credits").top_up.as_deref(),
            ),
        ),
        Err(e) => error_page(&state, &browser, e),
    }
}

#[derive(Deserialize)]
struct CredentialsQuery {
    provider: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
    name: Option<String>,
    /// The form's problems after a refused save: `field:message-id,…`.
    errors: Option<String>,
}

/// The fields of the key form and the messages a refused save may carry.
const KEY_FIELDS: [&str; 3] = ["provider", "key_name", "value"];

/// `field:id,…` from a redirect, keeping only known fields and key-form
/// messages (nothing else can be made to appear on the page).
fn key_errors(tr: &Tr, list: Option<&str>) -> Vec<(String, String)> {
    list.unwrap_or("")
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .filter(|(field, id)| KEY_FIELDS.contains(field) && id.starts_with("keys-error-"))
        .map(|(field, id)| (field.to_string(), tr.t(id)))
        .collect()
}

async fn credentials_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CredentialsQuery>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let errors = key_errors(&browser.tr(), q.errors.as_deref());
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let form = CredentialForm {
        provider: q.provider.as_deref().unwrap_or(""),
        key_name: q
            .name
            .as_deref()
            .filter(|_| q.errors.is_some())
            .unwrap_or("default"),
        errors,
    };
    let done = match (&q.saved, &q.deleted) {
        (Some(p), _) => Some(Done::Saved(p.clone(), q.name.clone().unwrap_or_default())),
        (None, Some(p)) => Some(Done::Deleted(p.clone(), q.name.clone().unwrap_or_default())),
        _ => None,
    };
    render_credentials(&state, &browser, &user, status, form, done).await
}

/// What the redirect after a change reports (shown only when true: the key
/// is stored, or no longer is).
enum Done {
    Saved(String, String),
    Deleted(String, String),
}

struct CredentialForm<'a> {
    provider: &'a str,
    key_name: &'a str,
    errors: Vec<(String, String)>,
}

async fn render_credentials(
    state: &AppState,
    browser: &Browser,
    user: &User,
    status: StatusCode,
    form: CredentialForm<'_>,
    done: Option<Done>,
) -> Response {
    let tr = browser.tr();
    let stored = match state.vault().list(user.id).await {
        Ok(s) => s,
        Err(e) => return error_page(state, browser, e),
    };
    let has = |p: &str, n: &str| stored.iter().any(|c| c.provider == p && c.key_name == n);
    // A notice names a provider as providers are written (so a crafted
    // link cannot make it say anything else).
    let plausible = |p: &str, n: &str| {
        crate::vault::validate_provider(p).is_ok() && crate::vault::validate_key_name(n).is_ok()
    };
    let done = match done {
        Some(Done::Saved(p, n)) if has(&p, &n) => Some(tr.a(
            "keys-saved",
            &[("provider", Arg::from(&p)), ("name", Arg::from(&n))],
        )),
        Some(Done::Deleted(p, n)) if !has(&p, &n) && plausible(&p, &n) => Some(tr.a(
            "keys-deleted",
            &[("provider", Arg::from(&p)), ("name", Arg::from(&n))],
        )),
        _ => None,
    };
    let mut known: Vec<String> = state
        .catalog()
        .snapshot()
        .entries()
        .flat_map(|e| e.agent.required_credential_types.clone())
        .collect();
    known.sort();
    known.dedup();
    let csrf = browser.csrf_token(state);
    let title = if form.errors.is_empty() {
        tr.t("keys-title")
    } else {
        tr.a(
            "title-with-errors",
            &[("title", Arg::from(&tr.t("keys-title")))],
        )
    };
    let body = pages::credentials(
        &tr,
        pages::CredentialsPage {
            csrf: &csrf,
            stored: &stored,
            known: &known,
            provider: form.provider,
            key_name: form.key_name,
            done,
            errors: &form.errors,
        },
    );
    nav_page(state, browser, status, &title, "/app/credentials", body)
}

/// A rule a key broke: its field and the message in the reader's words
/// (never the rule's pattern).
fn key_field_error(e: &FieldError) -> (&'static str, &'static str) {
    match (e.field.as_str(), e.rule.as_str()) {
        ("provider", _) => ("provider", "keys-error-provider"),
        ("key_name", _) => ("key_name", "keys-error-name"),
        ("value", "max_size") => ("value", "keys-error-value-size"),
        _ => ("value", "keys-error-value-empty"),
    }
}

async fn save_credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = or_respond!(signed_in_post(&state, &headers, &posted).await);
    let provider = posted
        .get("provider")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let key_name = match posted.get("key_name").map(str::trim) {
        Some(k) if !k.is_empty() => k.to_string(),
        _ => creds::default_key_name(),
    };
    let value = posted.get("value").unwrap_or("").trim().to_string();
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if provider.is_empty() {
        errors.push(("provider", "keys-error-provider-empty"));
    }
    if value.is_empty() {
        errors.push(("value", "keys-error-value-empty"));
    }
    if errors.is_empty() {
        let body = CredentialPut {
            value,
            key_name: key_name.clone(),
        };
        match creds::put(&state, &actor(&user, "web"), &user, &provider, body).await {
            Ok(view) => {
                let to = format!(
                    "/app/credentials?saved={}&name={}",
                    pages::url_encode(&view.provider),
                    pages::url_encode(&view.key_name)
                );
                return with_cookies(&browser, redirect(&to), None);
            }
            Err(Error::Validation(list)) => errors.extend(list.iter().map(key_field_error)),
            Err(e) => return error_page(&state, &browser, e),
        }
    }
    // Refused: back to the form with what was typed (never the key).
    let list = errors
        .iter()
        .map(|(field, id)| format!("{field}:{id}"))
        .collect::<Vec<_>>()
        .join(",");
    let to = format!(
        "/app/credentials?provider={}&name={}&errors={}#add",
        pages::url_encode(&provider),
        pages::url_encode(&key_name),
        pages::url_encode(&list)
    );
    with_cookies(&browser, redirect(&to), None)
}

/// The confirmed delete; it redirects to the list.
#[derive(Deserialize)]
struct KeyQuery {
    provider: Option<String>,
    key_name: Option<String>,
}

/// "Delete this key?": a page of its own (a GET), so that Back from the
/// list after deleting never lands on a posted form.
async fn confirm_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KeyQuery>,
) -> Response {
    let (browser, _user) = or_respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let provider = q.provider.unwrap_or_default();
    let key_name = q.key_name.unwrap_or_else(creds::default_key_name);
    let csrf = browser.csrf_token(&state);
    let title = tr.t("keys-confirm-title");
    nav_page(
        &state,
        &browser,
        StatusCode::OK,
        &title,
        "/app/credentials",
        pages::confirm_delete(&tr, &csrf, &provider, &key_name),
    )
}

async fn delete_credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = or_respond!(signed_in_post(&state, &headers, &posted).await);
    let provider = posted.get("provider").unwrap_or("").to_string();
    let key_name = posted
        .get("key_name")
        .map_or_else(creds::default_key_name, str::to_string);
    if posted.get("confirm") != Some("yes") {
        // Not confirmed: ask first.
        let to = format!(
            "/app/credentials/delete?provider={}&key_name={}",
            pages::url_encode(&provider),
            pages::url_encode(&key_name)
        );
        return with_cookies(&browser, redirect(&to), None);
    }
    match creds::delete(
        &state,
        &actor(&user, "web"),
        &user,
        &provider,
        Some(key_name.clone()),
    )
    .await
    {
        // Already gone (deleted in another tab): the same page either way.
        Ok(()) | Err(Error::NotFound(_)) => {
            let to = format!(
                "/app/credentials?deleted={}&name={}",
                pages::url_encode(&provider),
                pages::url_encode(&key_name)
            );
            with_cookies(&browser, redirect(&to), None)
        }
        Err(e) => error_page(&state, &browser, e),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
    /// After a refused save: `missing` (with `provider`) or a key-form
    /// message id.
    error: Option<String>,
    provider: Option<String>,
}

/// A refused connect link: a clear page, nothing stored.
fn link_refused(state: &AppState, browser: &Browser, e: &LinkError) -> Response {
    let tr = browser.tr();
    let (status, id) = match e {
        LinkError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "link-error-unavailable"),
        LinkError::OtherUser => (StatusCode::FORBIDDEN, "link-error-other-user"),
        LinkError::Used => (StatusCode::GONE, "link-error-used"),
        LinkError::Expired(_) => (StatusCode::GONE, "link-error-expired"),
        LinkError::Malformed | LinkError::Tampered => {
            (StatusCode::BAD_REQUEST, "link-error-invalid")
        }
    };
    if let LinkError::Store(err) = e {
        tracing::error!(error = %err, "connect link check failed");
    }
    tracing::info!(reason = ?std::mem::discriminant(e), status = status.as_u16(), "connect link refused");
    let (heading, sign_in) = (tr.t("link-heading"), tr.t("link-sign-in"));
    message(
        state,
        browser,
        status,
        (&heading, &tr.t(id)),
        ("/app/login", &sign_in),
        "/app/login",
    )
}

/// A link's claims and its user, after every check but the single use.
async fn check_link(
    state: &AppState,
    browser: &Browser,
    token: &str,
) -> std::result::Result<(portal::LinkClaims, User), LinkError> {
    let links = state.calls().connect_links();
    let claims = links.verify(token, chrono::Utc::now())?;
    if browser.user().is_some_and(|u| u.id != claims.user_id) {
        return Err(LinkError::OtherUser);
    }
    links.check_unused(state.store(), &claims).await?;
    let user = state
        .store()
        .get_user(claims.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(LinkError::Tampered)?;
    Ok((claims, user))
}

fn connect_form(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    page: pages::ConnectPage<'_>,
    uri: &Uri,
) -> Response {
    let tr = browser.tr();
    let title = tr.t("connect-title");
    let here = uri
        .path_and_query()
        .map_or(portal::CONNECT_PATH, |pq| pq.as_str())
        .to_string();
    app_page(
        state,
        browser,
        PageSpec {
            status,
            title: &title,
            current: "",
            here: &here,
        },
        pages::connect(&tr, page),
    )
}

async fn connect_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<TokenQuery>,
) -> Response {
    let browser = or_respond!(any_browser(&state, &headers).await);
    let token = q.token.unwrap_or_default();
    match check_link(&state, &browser, &token).await {
        Ok((claims, user)) => {
            let tr = browser.tr();
            let error = match (q.error.as_deref(), q.provider.as_deref()) {
                (Some("missing"), Some(p)) if claims.providers.iter().any(|c| c == p) => {
                    Some(tr.a("connect-error-missing", &[("provider", Arg::from(p))]))
                }
                (Some(id), _) if id.starts_with("keys-error-") => Some(tr.t(id)),
                _ => None,
            };
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let csrf = browser.csrf_token(&state);
            let page = pages::ConnectPage {
                csrf: &csrf,
                token: &token,
                email: &user.email,
                providers: &claims.providers,
                error: error.as_deref(),
            };
            connect_form(&state, &browser, status, page, &uri)
        }
        Err(e) => link_refused(&state, &browser, &e),
    }
}

async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let browser = or_respond!(posting_browser(&state, &headers, &posted).await);
    let token = posted.get("token").unwrap_or("").to_string();
    let (claims, user) = match check_link(&state, &browser, &token).await {
        Ok(v) => v,
        Err(e) => return link_refused(&state, &browser, &e),
    };
    // Refused: back to the link's page (post/redirect/get), nothing kept.
    let again = |query: String| {
        let to = format!(
            "{}?token={}&{query}",
            portal::CONNECT_PATH,
            pages::url_encode(&token)
        );
        with_cookies(&browser, redirect(&to), None)
    };
    let values: Vec<(&String, String)> = claims
        .providers
        .iter()
        .map(|p| {
            (
                p,
                posted
                    .get(&format!("key:{p}"))
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    if let Some((missing, _)) = values.iter().find(|(_, v)| v.is_empty()) {
        return again(format!(
            "error=missing&provider={}",
            pages::url_encode(missing)
        ));
    }
    let who = actor(&user, "connect-link");
    for (provider, value) in values {
        let body = CredentialPut {
            value,
            key_name: creds::default_key_name(),
        };
        match creds::put(&state, &who, &user, provider, body).await {
            Ok(_) => {}
            Err(Error::Validation(list)) => {
                let id = list
                    .first()
                    .map_or("keys-error-value-empty", |e| key_field_error(e).1);
                return again(format!("error={id}"));
            }
            Err(e) => return error_page(&state, &browser, e),
        }
    }
    if let Err(e) = state
        .calls()
        .connect_links()
        .consume(state.store(), &claims)
        .await
    {
        // Used concurrently by another request of the link's holder: the
        // keys are the same user's, stored either way.
        tracing::info!(error = %e, "connect link used twice at once");
    }
    tracing::info!(user_id = %user.id, providers = ?claims.providers, "credentials stored through a connect link");
    with_cookies(&browser, redirect("/app/connect/done"), None)
}

async fn connect_done(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let browser = or_respond!(any_browser(&state, &headers).await);
    let tr = browser.tr();
    let (title, text, sign_in) = (
        tr.t("connect-done-title"),
        tr.t("connect-done-text"),
        tr.t("connect-done-sign-in"),
    );
    message(
        &state,
        &browser,
        StatusCode::OK,
        (&title, &text),
        ("/app/login", &sign_in),
        "/app/connect/done",
    )
}
