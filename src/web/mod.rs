//! The Easy Mode web app at `/app`, for the people who buy agents: sign in
//! with an API key, see their tools, run one from a form rendered from its
//! `input_schema`, read their history and credits, and manage their
//! provider keys. Connect links (sent by a call that lacks a key) open
//! `/app/connect`, where the key goes from the browser to the Vault.
//!
//! Served by the binary itself: HTML rendered on the server, one stylesheet
//! and one small script embedded in the binary, nothing from a CDN.
//! Security: CSRF tokens on every state-changing form (`browser.rs`), a
//! strict Content-Security-Policy with `frame-ancestors 'none'`, no referrer
//! (a connect link's token never leaks to another site), `no-store`
//! caching, every value escaped (`pages.rs`), and a user only ever sees their
//! own rows. Every run goes through the one call pipeline (journal,
//! credits, Vault).

mod browser;
pub mod form;
mod pages;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::Markup;
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::billing;
use crate::calls::{self, CallError, CallRequest};
use crate::error::{Error, Result};
use crate::http::auth::AdminActor;
use crate::http::credentials::{self as creds, CredentialPut};
use crate::portal::{self, LinkError};
use crate::state::AppState;
use crate::store::{ExecutionLogFilter, User};

use browser::{Browser, CSRF_FIELD};

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

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes(state: &AppState) -> Router {
    Router::new()
        .route("/app", get(index))
        .route("/app/", get(index))
        .route("/app/login", get(login_page).post(login))
        .route("/app/logout", post(logout))
        .route("/app/tools", get(tools))
        .route("/app/tools/{tool}", get(tool_page).post(run_tool))
        .route("/app/history", get(history))
        .route("/app/history/{id}", get(execution))
        .route("/app/credits", get(credits))
        .route(
            "/app/credentials",
            get(credentials_page).post(save_credential),
        )
        .route("/app/credentials/delete", post(delete_credential))
        .route(portal::CONNECT_PATH, get(connect_page).post(connect))
        .route("/app/assets/app.css", get(css))
        .route("/app/assets/app.js", get(js))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state.clone())
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
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

fn with_cookies(browser: &Browser, mut response: Response, extra: Option<String>) -> Response {
    for cookie in browser.set_cookies().into_iter().chain(extra) {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

/// A whole page with the app's chrome.
fn app_page(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    title: &str,
    current: &str,
    body: Markup,
) -> Response {
    let csrf = browser.csrf_token(state);
    let chrome = Chrome {
        title,
        email: browser.user().map(|u| u.email.as_str()),
        csrf: &csrf,
        current,
    };
    page(browser, status, pages::layout(&chrome, body))
}

/// An error as a page: the message for the user's mistakes, an opaque text
/// for the server's (its cause goes to the log).
fn error_page(state: &AppState, browser: &Browser, error: Error) -> Response {
    let status = error.status();
    let text = error.public_detail();
    let heading = if status.is_server_error() {
        "Something went wrong"
    } else {
        "That did not work"
    };
    app_page(
        state,
        browser,
        status,
        heading,
        "",
        pages::message_page(heading, &text, Some(("/app/tools", "Back to your tools"))),
    )
}

fn forbidden_csrf(state: &AppState, browser: &Browser) -> Response {
    app_page(
        state,
        browser,
        StatusCode::FORBIDDEN,
        "Form expired",
        "",
        pages::message_page(
            "This form cannot be accepted",
            "It did not come from this site, or it has expired. Go back, reload the page and try again.",
            Some(("/app", "Start again")),
        ),
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

/// When even the browser could not be read (database down).
fn plain_error(e: Error) -> Response {
    let status = e.status();
    let text = e.public_detail();
    (
        status,
        axum::response::Html(
            pages::message_page("Something went wrong", &text, None).into_string(),
        ),
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

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Browser::of(&state, &headers).await {
        Ok(b) if b.user().is_some() => redirect("/app/tools"),
        Ok(b) => {
            let csrf = b.csrf_token(&state);
            app_page(
                &state,
                &b,
                StatusCode::OK,
                "Sign in",
                "",
                pages::login(&csrf, None),
            )
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
    let refuse = |message: &str| {
        let csrf = browser.csrf_token(&state);
        app_page(
            &state,
            &browser,
            StatusCode::UNAUTHORIZED,
            "Sign in",
            "",
            pages::login(&csrf, Some(message)),
        )
    };
    let key = posted.get("api_key").unwrap_or("").trim();
    if key.is_empty() {
        return refuse("Enter your API key.");
    }
    let user = match state.auth().authenticate(state.store_arc(), key).await {
        Ok(Some(auth)) => auth.user,
        Ok(None) => return refuse("That API key is not valid (or it was revoked)."),
        Err(e) => return error_page(&state, &browser, e),
    };
    if user.disabled_at.is_some() {
        return refuse("Your account is disabled; ask your administrator to enable it.");
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
    with_cookies(&browser, redirect("/app/login"), Some(clear))
}

async fn tools(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    match tool_rows(&state, &user).await {
        Ok(rows) => app_page(
            &state,
            &browser,
            StatusCode::OK,
            "Tools",
            "/app/tools",
            pages::tools(&rows),
        ),
        Err(e) => error_page(&state, &browser, e),
    }
}

async fn tool_rows(state: &AppState, user: &User) -> Result<Vec<pages::ToolRow>> {
    let visible = calls::visible_tools(state.calls(), user).await?;
    let snapshot = state.catalog().snapshot();
    let entitled = state
        .entitlements()
        .active_agents(state.store(), user.id)
        .await?;
    let stored: Vec<String> = state
        .vault()
        .list(user.id)
        .await?
        .into_iter()
        .map(|c| c.provider)
        .collect();
    let currency = &state.config().billing.currency;
    Ok(visible
        .iter()
        .filter_map(|tool| snapshot.get(&tool.name))
        .map(|entry| {
            let agent = &entry.agent;
            let priced = billing::is_priced(agent);
            pages::ToolRow {
                name: agent.tool_name.clone(),
                title: agent.name.clone(),
                description: agent.description.clone(),
                price: priced.then(|| billing::price_text(agent, currency)),
                credits_per_call: agent.credits_per_call,
                bought: entitled.contains(&agent.id),
                priced,
                credentials: agent
                    .required_credential_types
                    .iter()
                    .map(|p| (p.clone(), stored.contains(p)))
                    .collect(),
            }
        })
        .collect())
}

/// The catalog entry of a tool the user may see.
async fn visible_entry(
    state: &AppState,
    user: &User,
    name: &str,
) -> Result<Arc<crate::catalog::CatalogEntry>> {
    let visible = calls::visible_tools(state.calls(), user).await?;
    visible
        .iter()
        .find(|t| t.name == name)
        .and_then(|_| state.catalog().snapshot().get(name).cloned())
        .ok_or_else(|| Error::NotFound(format!("there is no tool named '{name}' for you")))
}

async fn tool_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    match visible_entry(&state, &user, &name).await {
        Ok(entry) => render_tool(
            &state,
            &browser,
            StatusCode::OK,
            &entry,
            &FormState::default(),
            &[],
            None,
        ),
        Err(e) => error_page(&state, &browser, e),
    }
}

fn render_tool(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    entry: &crate::catalog::CatalogEntry,
    form_state: &FormState,
    form_errors: &[String],
    outcome: Option<RunOutcome>,
) -> Response {
    let agent = &entry.agent;
    let csrf = browser.csrf_token(state);
    let body = pages::tool_form(pages::ToolForm {
        name: &agent.tool_name,
        title: &agent.name,
        description: &agent.description,
        csrf: &csrf,
        fields: form::render(&agent.input_schema, form_state),
        form_errors,
        outcome,
    });
    app_page(state, browser, status, &agent.name, "/app/tools", body)
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
    if let Some(array) = posted.get("_add") {
        form_state.add_row(array);
        return render_tool(
            &state,
            &browser,
            StatusCode::OK,
            &entry,
            &form_state,
            &[],
            None,
        );
    }
    let arguments = form::arguments(&entry.agent.input_schema, &form_state);
    let request = CallRequest {
        user: user.clone(),
        tool_name: entry.agent.tool_name.clone(),
        arguments,
        progress: None,
        cancel: CancellationToken::new(),
        session_id: None,
        transport: "web",
    };
    let result = match calls::call(state.calls(), request).await {
        Ok(r) => r,
        Err(e) => {
            let text = call_error_text(&e);
            let outcome = RunOutcome::Failed {
                text,
                execution_id: None,
            };
            let status = if matches!(e, CallError::Limited { .. }) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return render_tool(
                &state,
                &browser,
                status,
                &entry,
                &form_state,
                &[],
                Some(outcome),
            );
        }
    };
    let execution_id = result.execution_id.map(|id| id.to_string());
    match result.error_kind.as_deref() {
        None => {
            let outcome = RunOutcome::Success {
                text: result.text,
                execution_id,
                credits: result.credits_consumed,
            };
            render_tool(
                &state,
                &browser,
                StatusCode::OK,
                &entry,
                &form_state,
                &[],
                Some(outcome),
            )
        }
        Some("invalid_arguments") => {
            let errors = result.validation_errors();
            let loose = form_state.attach_errors(&errors);
            render_tool(
                &state,
                &browser,
                StatusCode::UNPROCESSABLE_ENTITY,
                &entry,
                &form_state,
                &loose,
                None,
            )
        }
        Some("missing_credentials") => {
            let providers = result
                .missing_credentials()
                .map(|(providers, _)| providers)
                .unwrap_or_default();
            let outcome = RunOutcome::MissingCredentials(providers);
            render_tool(
                &state,
                &browser,
                StatusCode::CONFLICT,
                &entry,
                &form_state,
                &[],
                Some(outcome),
            )
        }
        Some(_) => {
            let outcome = RunOutcome::Failed {
                text: result.text,
                execution_id,
            };
            render_tool(
                &state,
                &browser,
                StatusCode::OK,
                &entry,
                &form_state,
                &[],
                Some(outcome),
            )
        }
    }
}

fn call_error_text(e: &CallError) -> String {
    match e {
        CallError::JournalUnavailable(_) => {
            "The gateway cannot record calls right now, so the tool was not run. Try again in a moment.".into()
        }
        other => other.to_string(),
    }
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
    let mut named = Vec::with_capacity(rows.len());
    for row in rows {
        let tool = tool_name(&state, row.agent_id).await;
        named.push((row, tool));
    }
    app_page(
        &state,
        &browser,
        StatusCode::OK,
        "History",
        "/app/history",
        pages::history(&named, older),
    )
}

/// The tool name shown for a row (errors read as a removed tool: the page
/// still shows the row).
async fn tool_name(state: &AppState, agent_id: Uuid) -> String {
    match state.catalog().tool_name(state.store(), agent_id).await {
        Ok(Some(name)) => name,
        _ => "(removed tool)".into(),
    }
}

async fn execution(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let not_found = || Error::NotFound("there is no such call in your history".into());
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(&state, &browser, not_found());
    };
    match state.store().get_execution_log(id).await {
        // Another user's row is indistinguishable from no row.
        Ok(Some(row)) if row.user_id == user.id => {
            let tool = tool_name(&state, row.agent_id).await;
            app_page(
                &state,
                &browser,
                StatusCode::OK,
                "Call",
                "/app/history",
                pages::execution(&row, &tool),
            )
        }
        Ok(_) => error_page(&state, &browser, not_found()),
        Err(e) => error_page(&state, &browser, e.into()),
    }
}

async fn credits(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    let loaded = async {
        let account = state.store().credit_account(user.id).await?;
        let ledger = state.store().list_ledger(user.id, None, 100).await?;
        Ok::<_, Error>((account, ledger))
    }
    .await;
    match loaded {
        Ok((account, ledger)) => app_page(
            &state,
            &browser,
            StatusCode::OK,
            "Credits",
            "/app/credits",
            pages::credits(account.balance, account.reserved, &ledger),
        ),
        Err(e) => error_page(&state, &browser, e),
    }
}

#[derive(Deserialize)]
struct ProviderQuery {
    provider: Option<String>,
}

async fn credentials_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ProviderQuery>,
) -> Response {
    let (browser, user) = or_respond!(signed_in(&state, &headers).await);
    render_credentials(
        &state,
        &browser,
        &user,
        StatusCode::OK,
        q.provider.as_deref().unwrap_or(""),
        None,
    )
    .await
}

async fn render_credentials(
    state: &AppState,
    browser: &Browser,
    user: &User,
    status: StatusCode,
    provider: &str,
    message: Option<(&str, String)>,
) -> Response {
    let stored = match state.vault().list(user.id).await {
        Ok(s) => s,
        Err(e) => return error_page(state, browser, e),
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
    let body = pages::credentials(pages::CredentialsPage {
        csrf: &csrf,
        stored: &stored,
        known: &known,
        provider,
        message,
    });
    app_page(
        state,
        browser,
        status,
        "Credentials",
        "/app/credentials",
        body,
    )
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
    let body = CredentialPut {
        value: posted.get("value").unwrap_or("").trim().to_string(),
        key_name,
    };
    let outcome = creds::put(&state, &actor(&user, "web"), &user, &provider, body)
        .await
        .map(|view| {
            format!(
                "Saved your {} key '{}'. Your next call uses it.",
                view.provider, view.key_name
            )
        });
    after_change(&state, &browser, &user, outcome, &provider).await
}

/// The credentials page after a change: what happened, or the user's
/// mistake above the form (kept filled with `provider`); server errors get
/// the opaque error page.
async fn after_change(
    state: &AppState,
    browser: &Browser,
    user: &User,
    outcome: Result<String>,
    provider: &str,
) -> Response {
    match outcome {
        Ok(text) => {
            render_credentials(state, browser, user, StatusCode::OK, "", Some(("ok", text))).await
        }
        Err(e) if e.status().is_client_error() => {
            let text = e.public_detail();
            render_credentials(
                state,
                browser,
                user,
                e.status(),
                provider,
                Some(("error", text)),
            )
            .await
        }
        Err(e) => error_page(state, browser, e),
    }
}

async fn delete_credential(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(pairs);
    let (browser, user) = or_respond!(signed_in_post(&state, &headers, &posted).await);
    let provider = posted.get("provider").unwrap_or("").to_string();
    let key_name = posted.get("key_name").map(str::to_string);
    let outcome = creds::delete(&state, &actor(&user, "web"), &user, &provider, key_name)
        .await
        .map(|()| format!("Deleted your {provider} key."));
    after_change(&state, &browser, &user, outcome, "").await
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A refused connect link: a clear page, nothing stored.
fn link_refused(state: &AppState, browser: &Browser, e: &LinkError) -> Response {
    let status = match e {
        LinkError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        LinkError::OtherUser => StatusCode::FORBIDDEN,
        LinkError::Used | LinkError::Expired(_) => StatusCode::GONE,
        LinkError::Malformed | LinkError::Tampered => StatusCode::BAD_REQUEST,
    };
    if let LinkError::Store(err) = e {
        tracing::error!(error = %err, "connect link check failed");
    }
    tracing::info!(reason = ?std::mem::discriminant(e), status = status.as_u16(), "connect link refused");
    app_page(
        state,
        browser,
        status,
        "Link not valid",
        "",
        pages::message_page(
            "This link cannot be used",
            &e.to_string(),
            Some(("/app/login", "Sign in to manage your keys")),
        ),
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

async fn connect_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let browser = or_respond!(any_browser(&state, &headers).await);
    let token = q.token.unwrap_or_default();
    match check_link(&state, &browser, &token).await {
        Ok((claims, user)) => {
            let csrf = browser.csrf_token(&state);
            let body = pages::connect(pages::ConnectPage {
                csrf: &csrf,
                token: &token,
                email: &user.email,
                providers: &claims.providers,
                error: None,
            });
            app_page(&state, &browser, StatusCode::OK, "Add your keys", "", body)
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
    let again = |error: String| {
        let csrf = browser.csrf_token(&state);
        let body = pages::connect(pages::ConnectPage {
            csrf: &csrf,
            token: &token,
            email: &user.email,
            providers: &claims.providers,
            error: Some(&error),
        });
        app_page(
            &state,
            &browser,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Add your keys",
            "",
            body,
        )
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
        return again(format!("Paste your {missing} key."));
    }
    let who = actor(&user, "connect-link");
    for (provider, value) in values {
        let body = CredentialPut {
            value,
            key_name: creds::default_key_name(),
        };
        match creds::put(&state, &who, &user, provider, body).await {
            Ok(_) => {}
            Err(e) if e.status().is_client_error() => return again(e.public_detail()),
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
    let text = format!(
        "Saved your {} key. Go back to your assistant and call the tool again.",
        claims.providers.join(", ")
    );
    app_page(
        &state,
        &browser,
        StatusCode::OK,
        "Saved",
        "",
        pages::message_page(
            "Saved",
            &text,
            Some(("/app/login", "Sign in to see your tools")),
        ),
    )
}
