//! The web app's HTML, with maud: every interpolated value is escaped (tool
//! names and descriptions, results, errors), so no text from an agent, an
//! engine or a user becomes markup. No inline script or style: the
//! Content-Security-Policy allows only this app's own assets. Every text a
//! person reads comes from the language catalogs (`Tr`); agent names and
//! descriptions are shown as their authors wrote them.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::form::SummaryItem;
use super::i18n::{Arg, Lang, Tr};
use crate::store::{ExecutionLog, ExecutionStatus, LedgerEntry};
use crate::vault::CredentialInfo;

/// The page around the content: language, navigation when signed in.
pub struct Chrome<'a> {
    pub title: &'a str,
    pub email: Option<&'a str>,
    pub csrf: &'a str,
    pub current: &'a str,
    /// This page's path and query, for the language switcher to come back.
    pub here: &'a str,
}

pub fn layout(tr: &Tr, chrome: &Chrome<'_>, body: Markup) -> Markup {
    let nav = [
        ("/app/tools", "nav-tools"),
        ("/app/catalog", "nav-catalog"),
        ("/app/history", "nav-history"),
        ("/app/credits", "nav-credits"),
        ("/app/credentials", "nav-credentials"),
        ("/app/api-keys", "nav-api-keys"),
        ("/app/assistants", "nav-assistants"),
    ];
    html! {
        (DOCTYPE)
        html lang=(tr.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (chrome.title) " · VieAgent" }
                link rel="icon" type="image/svg+xml" href="/app/assets/favicon.svg";
                link rel="stylesheet" href="/app/assets/app.css";
                script src="/app/assets/app.js" defer {}
            }
            body data-running=(tr.t("run-running")) {
                a.skip href="#main" { (tr.t("skip-to-content")) }
                header.top {
                    span.brand { "VieAgent" }
                    @if chrome.email.is_some() {
                        nav aria-label=(tr.t("nav-label")) {
                            @for (href, id) in nav {
                                a href=(href) aria-current=[(chrome.current == href).then_some("page")] { (tr.t(id)) }
                            }
                        }
                    }
                    nav.lang aria-label=(tr.t("lang-label")) {
                        @for lang in Lang::ALL {
                            @if lang == tr.lang {
                                span lang=(lang.code()) aria-current="true" { (lang.native_name()) }
                            } @else {
                                a lang=(lang.code()) hreflang=(lang.code())
                                    href=(format!("/app/lang/{}?next={}", lang.code(), url_encode(chrome.here))) { (lang.native_name()) }
                            }
                        }
                    }
                    @if let Some(email) = chrome.email {
                        form.signout method="post" action="/app/logout" {
                            input type="hidden" name="_csrf" value=(chrome.csrf);
                            span.who { (email) }
                            button.secondary type="submit" { (tr.t("sign-out")) }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A query-string value, percent-encoded.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// A time as UTC text, which the page's script shows in the reader's own
/// time zone and language.
pub fn time(at: &DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (at.format("%Y-%m-%d %H:%M UTC"))
        }
    }
}

/// The problems of a submitted form, linking to their fields; the page's
/// script moves focus here.
pub fn error_summary(tr: &Tr, items: &[SummaryItem]) -> Markup {
    html! {
        @if !items.is_empty() {
            div.error-summary id="error-summary" role="alert" tabindex="-1" aria-labelledby="error-summary-title" {
                h2 id="error-summary-title" { (tr.t("error-summary-title")) }
                ul {
                    @for item in items {
                        li {
                            @if let Some(target) = &item.target {
                                a href=(format!("#{target}")) { (item.text) }
                            } @else { (item.text) }
                        }
                    }
                }
            }
        }
    }
}

/// How people may sign in.
#[derive(Debug, Clone, Copy)]
pub struct SignInWays {
    /// With their marketplace account (OpenID Connect).
    pub marketplace: bool,
    /// With an API key.
    pub api_key: bool,
}

pub fn login(
    tr: &Tr,
    csrf: &str,
    error: Option<&str>,
    ways: SignInWays,
    signup: Option<&str>,
) -> Markup {
    let items: Vec<SummaryItem> = error
        .map(|e| SummaryItem {
            target: ways.api_key.then(|| "api_key".into()),
            text: e.to_string(),
        })
        .into_iter()
        .collect();
    html! {
        h1 { (tr.t("login-title")) }
        p.lead { (tr.t("login-what")) }
        @if let Some(href) = signup {
            p { (tr.t("signup-new")) " " a href=(href) id="signup" { (tr.t("signup-link")) } }
        }
        (error_summary(tr, &items))
        @if ways.marketplace {
            p { a.button.primary id="signin-marketplace" href="/app/signin" { (tr.t("signin-with-marketplace")) } }
            p.help { (tr.t("signin-marketplace-help")) }
        }
        @if ways.api_key {
            @if ways.marketplace {
                h2 { (tr.t("login-with-key")) }
            }
            p { (tr.t("login-intro")) }
            form method="post" action="/app/login" novalidate {
                input type="hidden" name="_csrf" value=(csrf);
                div.field {
                    label for="api_key" { (tr.t("login-api-key")) }
                    input type="password" id="api_key" name="api_key" autocomplete="off" required aria-required="true"
                        aria-describedby="api_key-help" aria-invalid=[error.map(|_| "true")];
                    p.help id="api_key-help" { (tr.t("login-api-key-help")) }
                }
                button type="submit" { (tr.t("login-submit")) }
            }
        }
    }
}

/// An agent as a card (the Tools page, the marketplace).
pub struct ToolRow {
    pub name: String,
    pub title: String,
    pub description: String,
    pub price: Option<String>,
    pub credits_per_call: i32,
    pub bought: bool,
    pub priced: bool,
    /// (provider, stored)
    pub credentials: Vec<(String, bool)>,
    /// Where it is bought, when priced and not bought.
    pub buy_url: Option<String>,
    /// In the user's toolbox.
    pub in_toolbox: bool,
}

fn credits_per_call(tr: &Tr, n: i32) -> String {
    if n == 0 {
        tr.t("cost-free-call")
    } else {
        tr.a("cost-per-call", &[("n", n.into())])
    }
}

/// The forms that add an agent to the toolbox or remove it, on a page
/// whose agents the user chooses (`catalog.toolbox = "chosen"`).
pub struct ToolboxForms<'a> {
    pub csrf: &'a str,
    /// The page (and query) to come back to after a change.
    pub back: &'a str,
}

/// Where the forms of [`ToolboxForms`] post.
pub const TOOLBOX_ADD_PATH: &str = "/app/toolbox/add";
pub const TOOLBOX_REMOVE_PATH: &str = "/app/toolbox/remove";

/// A card's HTML id (tool names are letters, digits and `_`).
fn card_id(tool: &str) -> String {
    format!("agent-{tool}")
}

/// One agent: its name (to its form), what it does, its price, whether it
/// is bought, the keys it needs (stored or not), Open, and with `toolbox`
/// the button that adds it to the assistant or removes it.
fn tool_card(tr: &Tr, t: &ToolRow, toolbox: Option<&ToolboxForms<'_>>) -> Markup {
    let heading = card_id(&t.name);
    let (action, label) = if t.in_toolbox {
        (TOOLBOX_REMOVE_PATH, tr.t("toolbox-remove"))
    } else {
        (TOOLBOX_ADD_PATH, tr.t("toolbox-add"))
    };
    html! {
        li.card id=(heading) {
            h2 id=(format!("{heading}-name")) { a href=(format!("/app/tools/{}", t.name)) { (t.title) } }
            @if toolbox.is_some() && t.in_toolbox {
                p.in-toolbox { span.badge.ok { "✓ " (tr.t("catalog-in-toolbox")) } }
            }
            p { (t.description) }
            dl {
                dt { (tr.t("tools-price")) }
                dd {
                    (t.price.clone().unwrap_or_else(|| tr.t("tools-free")))
                    " · " (credits_per_call(tr, t.credits_per_call))
                }
                @if t.priced {
                    dt { (tr.t("tools-bought")) }
                    dd {
                        @if t.bought { (tr.t("yes")) } @else {
                            (tr.t("tools-not-bought"))
                            @if let Some(href) = &t.buy_url { " " (buy_button(tr, href, t.price.as_deref())) }
                        }
                    }
                }
                @if !t.credentials.is_empty() {
                    dt { (tr.t("tools-keys")) }
                    dd {
                        @for (provider, stored) in &t.credentials {
                            @if *stored {
                                span.badge.ok { (provider) " ✓" span.visually-hidden { " " (tr.t("tools-key-stored")) } } " "
                            } @else {
                                a.button.small href=(format!("/app/credentials?provider={provider}#add")) {
                                    (tr.a("tools-connect", &[("provider", Arg::from(provider))]))
                                } " "
                            }
                        }
                    }
                }
            }
            div.card-actions {
                a.button href=(format!("/app/tools/{}", t.name)) aria-label=(tr.a("tools-open-label", &[("tool", Arg::from(&t.title))])) { (tr.t("tools-open")) }
                @if let Some(forms) = toolbox {
                    form.inline method="post" action=(action) {
                        input type="hidden" name="_csrf" value=(forms.csrf);
                        input type="hidden" name="tool" value=(t.name);
                        input type="hidden" name="back" value=(forms.back);
                        // The visible words first, then which agent (for
                        // a screen reader's list of buttons).
                        button.secondary[t.in_toolbox] type="submit" {
                            (label) span.visually-hidden { " — " (t.title) }
                        }
                    }
                }
            }
        }
    }
}

/// The Tools page: what the user's assistant sees.
pub struct ToolsView<'a> {
    /// `catalog.toolbox = "chosen"`: the rows are the user's toolbox,
    /// each with Remove.
    pub chosen: bool,
    pub csrf: &'a str,
    /// (kind, text) of what just happened (after a redirect).
    pub notice: Option<(&'static str, String)>,
}

pub fn tools(tr: &Tr, rows: &[ToolRow], view: &ToolsView<'_>) -> Markup {
    let forms = ToolboxForms {
        csrf: view.csrf,
        back: "/app/tools",
    };
    html! {
        h1 { (tr.t("tools-title")) }
        @if let Some((kind, text)) = &view.notice { (notice(kind, text)) }
        @if view.chosen {
            @if rows.is_empty() {
                p { (tr.t("tools-chosen-empty")) }
            } @else {
                p { (tr.t("tools-chosen-intro")) }
            }
            p { a href="/app/catalog" id="find-more" { (tr.t("tools-find-more")) } }
        } @else {
            @if rows.is_empty() { p { (tr.t("tools-empty")) } }
            @else { p { (tr.t("tools-all-intro")) } }
            p { a href="/app/catalog" id="find-more" { (tr.t("tools-browse")) } }
        }
        @if !rows.is_empty() {
            ul.cards {
                @for t in rows { (tool_card(tr, t, view.chosen.then_some(&forms))) }
            }
        }
    }
}

/// The marketplace page.
pub struct CatalogView<'a> {
    /// The search as typed.
    pub query: &'a str,
    /// Whether this is a later page of results.
    pub paged: bool,
    pub rows: &'a [ToolRow],
    /// The link to the next page of results.
    pub more: Option<String>,
    /// `catalog.toolbox = "chosen"`: each agent can be added or removed.
    pub chosen: bool,
    pub csrf: &'a str,
    /// This page, to come back to after adding or removing.
    pub here: &'a str,
    /// (kind, text) of what just happened (after a redirect).
    pub notice: Option<(&'static str, String)>,
    /// Why the search could not be made, if it could not.
    pub error: Option<String>,
}

pub fn catalog(tr: &Tr, v: &CatalogView<'_>) -> Markup {
    let forms = ToolboxForms {
        csrf: v.csrf,
        back: v.here,
    };
    let searched = !v.query.trim().is_empty();
    html! {
        h1 { (tr.t("catalog-title")) }
        p { (tr.t(if v.chosen { "catalog-intro" } else { "catalog-intro-all" })) }
        @if let Some((kind, text)) = &v.notice { (notice(kind, text)) }
        form.search method="get" action="/app/catalog" role="search" {
            div.field {
                label for="q" { (tr.t("catalog-search-label")) }
                div.search-row {
                    input type="search" id="q" name="q" value=(v.query) maxlength="200"
                        autocomplete="off" aria-describedby=(if v.error.is_some() { "q-help q-error" } else { "q-help" })
                        aria-invalid=[v.error.as_ref().map(|_| "true")];
                    button type="submit" { (tr.t("catalog-search")) }
                }
                p.help id="q-help" { (tr.t("catalog-search-help")) }
                @if let Some(e) = &v.error { p.field-error id="q-error" role="alert" { (e) } }
            }
        }
        @if v.error.is_none() {
            h2 id="results" {
                @if searched { (tr.a("catalog-results", &[("query", Arg::from(v.query.trim()))])) }
                @else { (tr.t("catalog-all")) }
            }
            @if v.rows.is_empty() {
                @if searched {
                    p { (tr.a("catalog-none", &[("query", Arg::from(v.query.trim()))])) }
                    p { a href="/app/catalog" { (tr.t("catalog-see-all")) } }
                } @else if v.paged {
                    p { a href="/app/catalog" { (tr.t("catalog-first")) } }
                } @else {
                    p { (tr.t("catalog-empty")) }
                }
            } @else {
                ul.cards {
                    @for t in v.rows { (tool_card(tr, t, v.chosen.then_some(&forms))) }
                }
            }
            @if v.more.is_some() || (v.paged && !v.rows.is_empty()) {
                nav.pager aria-label=(tr.t("catalog-pages")) {
                    @if v.paged {
                        a href=(catalog_link(v.query, None)) { (tr.t("catalog-first")) }
                    }
                    @if let Some(href) = &v.more {
                        a href=(href) rel="next" { (tr.t("catalog-more")) " →" }
                    }
                }
            }
        }
    }
}

/// The marketplace page for a search (and a page of its results).
pub fn catalog_link(query: &str, cursor: Option<&str>) -> String {
    let mut link = "/app/catalog".to_string();
    let mut sep = '?';
    if !query.trim().is_empty() {
        link.push_str(&format!("{sep}q={}", url_encode(query.trim())));
        sep = '&';
    }
    if let Some(cursor) = cursor {
        link.push_str(&format!("{sep}cursor={}", url_encode(cursor)));
    }
    link
}

/// What running a tool from its form gave (kept in the form's draft).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    Success {
        text: String,
        execution_id: Option<String>,
        credits: i32,
    },
    Failed {
        text: String,
        execution_id: Option<String>,
        /// Why, as the call's `error_kind` says (worded from the catalogs);
        /// `None` when `text` is already the reader's.
        #[serde(default)]
        kind: Option<String>,
    },
    /// Still running (a page reloaded before the call ended).
    Running {
        execution_id: String,
    },
    MissingCredentials {
        providers: Vec<String>,
    },
}

pub struct ToolForm<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub csrf: &'a str,
    pub fields: Markup,
    pub summary: &'a [SummaryItem],
    pub outcome: Option<RunOutcome>,
    pub credits_per_call: i32,
    /// Credits available now (balance less reservations), when known.
    pub available: Option<i64>,
    pub price: Option<String>,
    /// Priced and not bought.
    pub not_bought: bool,
    /// Where to buy it and to top up credits, at the marketplace.
    pub links: MarketLinks,
}

/// The marketplace's pages for this tool, when configured.
#[derive(Debug, Clone, Default)]
pub struct MarketLinks {
    pub buy: Option<String>,
    pub top_up: Option<String>,
}

/// "Buy — 9.99 USD a month", to the marketplace.
fn buy_button(tr: &Tr, href: &str, price: Option<&str>) -> Markup {
    html! {
        a.button.buy href=(href) {
            @match price {
                Some(p) => (tr.a("buy-for", &[("price", Arg::from(p))])),
                None => (tr.t("buy")),
            }
        }
    }
}

fn top_up_button(tr: &Tr, href: &str) -> Markup {
    html! { a.button.secondary.top-up href=(href) { (tr.t("top-up")) } }
}

pub fn tool_form(tr: &Tr, f: ToolForm<'_>) -> Markup {
    html! {
        p { a href="/app/tools" { "← " (tr.t("tool-all-tools")) } }
        h1 { (f.title) }
        p { (f.description) }
        @if let Some(outcome) = &f.outcome { (outcome_section(tr, outcome, &f.links)) }
        (error_summary(tr, f.summary))
        form.run method="post" action=(format!("/app/tools/{}", f.name)) novalidate {
            input type="hidden" name="_csrf" value=(f.csrf);
            input type="hidden" name="_tz" value="Z" data-tz;
            p.required-note { (tr.t("form-required-note")) }
            (f.fields)
            dl.cost {
                dt { (tr.t("tool-cost")) }
                dd id="cost" {
                    (credits_per_call(tr, f.credits_per_call))
                    @if let Some(price) = &f.price { " · " (price) }
                }
                @if let Some(available) = f.available {
                    dt { (tr.t("tool-balance")) }
                    dd id="available" { (tr.a("credits-count", &[("n", available.into())])) }
                }
            }
            @if f.not_bought {
                div.notice.info {
                    p { (tr.t("tool-not-bought")) }
                    @if let Some(href) = &f.links.buy { p { (buy_button(tr, href, f.price.as_deref())) } }
                }
            }
            @if f.available.is_some_and(|a| a < i64::from(f.credits_per_call)) {
                div.notice.info {
                    p { (tr.t("tool-short-of-credits")) }
                    @if let Some(href) = &f.links.top_up { p { (top_up_button(tr, href)) } }
                }
            }
            p.progress id="progress" role="status" aria-live="polite" hidden { (tr.t("run-running")) }
            button type="submit" id="run" { (tr.t("run")) }
        }
    }
}

fn outcome_section(tr: &Tr, outcome: &RunOutcome, links: &MarketLinks) -> Markup {
    let history_link = |id: &Option<String>| {
        html! { @if let Some(id) = id { a href=(format!("/app/history/{id}")) { (tr.t("run-history-entry")) } } }
    };
    html! {
        section.result id="result-section" aria-labelledby="result-title" {
            @match outcome {
                RunOutcome::Success { text, execution_id, credits } => {
                    h2 id="result-title" { (tr.t("run-result")) }
                    pre.output id="result" tabindex="0" { (text) }
                    p.meta {
                        (tr.a("run-credits-used", &[("n", (*credits).into())]))
                        @if execution_id.is_some() { " · " (history_link(execution_id)) }
                    }
                }
                RunOutcome::Failed { text, execution_id, kind } => {
                    h2 id="result-title" { (tr.t("run-failed")) }
                    @match kind.as_deref().map(|k| failure_reason(k)) {
                        Some((why, details)) => {
                            p.notice.error role="alert" { (tr.t(why)) }
                            @match (kind.as_deref(), &links.buy, &links.top_up) {
                                (Some("purchase_required"), Some(href), _) => p { (buy_button(tr, href, None)) },
                                (Some("insufficient_credits"), _, Some(href)) => p { (top_up_button(tr, href)) },
                                _ => {}
                            }
                            // The engine's own words, for engine failures
                            // only (the gateway's are the sentence above).
                            @if details && !text.is_empty() {
                                details.engine {
                                    summary { (tr.t("run-details")) }
                                    pre.output.error id="result" tabindex="0" { (text) }
                                }
                            }
                        }
                        None => { pre.output.error id="result" role="alert" tabindex="0" { (text) } }
                    }
                    @if execution_id.is_some() { p.meta { (history_link(execution_id)) } }
                }
                RunOutcome::Running { execution_id } => {
                    h2 id="result-title" { (tr.t("run-still-running")) }
                    p role="status" { (tr.t("run-still-running-text")) " " a href=(format!("/app/history/{execution_id}")) { (tr.t("run-history-entry")) } }
                }
                RunOutcome::MissingCredentials { providers } => {
                    h2 id="result-title" { (tr.t("run-missing-key")) }
                    div.notice.error role="alert" {
                        p { (tr.a("run-missing-key-text", &[("providers", Arg::from(&providers.join(", ")))])) }
                        p {
                            @for p in providers {
                                a.button.small href=(format!("/app/credentials?provider={p}#add")) {
                                    (tr.a("run-add-key", &[("provider", Arg::from(p))]))
                                } " "
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Why a run failed, in the catalogs' words, from its `error_kind`; and
/// whether the engine's own message is worth showing under it.
fn failure_reason(kind: &str) -> (&'static str, bool) {
    match kind {
        "purchase_required" => ("run-why-purchase-required", false),
        "insufficient_credits" => ("run-why-insufficient-credits", false),
        "access_denied" => ("run-why-access-denied", false),
        "credential_unreadable" => ("run-why-credential-unreadable", false),
        "credential_rejected" => ("run-why-credential-rejected", true),
        "timeout" | "no_response" => ("run-why-timeout", false),
        "rate_limited" => ("run-why-rate-limited", false),
        "cancelled" | "shutdown" => ("run-why-cancelled", false),
        "unreachable"
        | "transport"
        | "not_configured"
        | "engine_not_configured"
        | "gateway_rejected" => ("run-why-unavailable", false),
        "flow_not_found" | "flow_disabled" => ("run-why-flow-missing", false),
        "payload_too_large" | "response_too_large" => ("run-why-too-large", false),
        _ => ("run-why-failed", true),
    }
}

pub fn status_text(tr: &Tr, status: ExecutionStatus) -> String {
    tr.t(match status {
        ExecutionStatus::Pending => "status-pending",
        ExecutionStatus::Running => "status-running",
        ExecutionStatus::Success => "status-success",
        ExecutionStatus::Failed => "status-failed",
    })
}

fn duration(tr: &Tr, ms: Option<i32>) -> String {
    match ms {
        Some(ms) if ms >= 10_000 => tr.a("duration-s", &[("n", (ms / 1000).into())]),
        Some(ms) => tr.a("duration-ms", &[("n", ms.into())]),
        None => "—".into(),
    }
}

pub fn history(tr: &Tr, rows: &[(ExecutionLog, String)], older: Option<String>) -> Markup {
    html! {
        h1 { (tr.t("history-title")) }
        @if rows.is_empty() { p { (tr.t("history-empty")) } }
        @else {
            // Scrolls sideways on a phone: a labelled region keys can reach.
            div.table role="region" aria-label=(tr.t("history-title")) tabindex="0" {
                table {
                    caption.visually-hidden { (tr.t("history-title")) }
                    thead { tr {
                        th scope="col" { (tr.t("history-when")) } th scope="col" { (tr.t("history-tool")) }
                        th scope="col" { (tr.t("history-status")) } th scope="col" { (tr.t("history-duration")) }
                        th scope="col" { (tr.t("history-credits")) }
                    } }
                    tbody {
                        @for (row, tool) in rows {
                            tr {
                                td { a href=(format!("/app/history/{}", row.id)) { (time(&row.created_at)) } }
                                td { (tool) }
                                td { span class=(format!("badge {}", row.status.as_str())) { (status_text(tr, row.status)) } }
                                td { (duration(tr, row.duration_ms)) }
                                td { (row.credits_consumed) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = older { p { a href=(format!("/app/history?before={cursor}")) { (tr.t("history-older")) " →" } } }
    }
}

fn pretty(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        .unwrap_or_else(|| "—".into())
}

pub fn execution(tr: &Tr, row: &ExecutionLog, tool: &str, run_again: Option<&str>) -> Markup {
    html! {
        p { a href="/app/history" { "← " (tr.t("history-title")) } }
        h1 { (tr.a("call-title", &[("tool", Arg::from(tool))])) }
        dl.facts {
            dt { (tr.t("history-status")) } dd { span class=(format!("badge {}", row.status.as_str())) { (status_text(tr, row.status)) } }
            dt { (tr.t("call-started")) } dd { (time(&row.created_at)) }
            dt { (tr.t("history-duration")) } dd { (duration(tr, row.duration_ms)) }
            dt { (tr.t("history-credits")) } dd { (row.credits_consumed) }
            dt { (tr.t("call-id")) } dd.mono { (row.id) }
        }
        @if let Some(href) = run_again { p { a.button href=(href) { (tr.t("call-run-again")) } } }
        @if let Some(e) = &row.error { h2 { (tr.t("call-error")) } pre.output.error tabindex="0" { (e) } }
        h2 { (tr.t("call-input")) }
        pre.output tabindex="0" { (pretty(&row.input_snapshot)) }
        h2 { (tr.t("call-output")) }
        pre.output tabindex="0" { (pretty(&row.output_snapshot)) }
    }
}

fn ledger_reason(tr: &Tr, reason: &str) -> String {
    match reason {
        "call" => tr.t("ledger-call"),
        "signup" => tr.t("ledger-signup"),
        other => match other.strip_prefix("marketplace purchase ") {
            Some(reference) => tr.a(
                "ledger-marketplace-purchase",
                &[("reference", Arg::from(reference))],
            ),
            None => other.to_string(),
        },
    }
}

pub fn credits(
    tr: &Tr,
    balance: i64,
    reserved: i64,
    ledger: &[LedgerEntry],
    top_up: Option<&str>,
) -> Markup {
    html! {
        h1 { (tr.t("credits-title")) }
        @if let Some(href) = top_up { p { (top_up_button(tr, href)) } }
        dl.facts {
            dt { (tr.t("credits-balance")) } dd id="balance" { (balance) }
            dt { (tr.t("credits-reserved")) } dd { (reserved) }
            dt { (tr.t("credits-available")) } dd { (balance - reserved) }
        }
        h2 id="ledger" { (tr.t("credits-ledger")) }
        @if ledger.is_empty() { p { (tr.t("credits-ledger-empty")) } }
        @else {
            div.table role="region" aria-labelledby="ledger" tabindex="0" {
                table {
                    caption.visually-hidden { (tr.t("credits-ledger")) }
                    thead { tr {
                        th scope="col" { (tr.t("history-when")) } th scope="col" { (tr.t("credits-change")) }
                        th scope="col" { (tr.t("credits-reason")) } th scope="col" { (tr.t("credits-balance-after")) }
                    } }
                    tbody {
                        @for e in ledger {
                            tr {
                                td { (time(&e.created_at)) }
                                td { @if e.delta > 0 { "+" } (e.delta) }
                                td { (ledger_reason(tr, &e.reason)) }
                                td { (e.balance_after) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub struct CredentialsPage<'a> {
    pub csrf: &'a str,
    pub stored: &'a [CredentialInfo],
    /// Providers the published tools need (for the datalist).
    pub known: &'a [String],
    pub provider: &'a str,
    pub key_name: &'a str,
    /// What just happened (after a redirect).
    pub done: Option<String>,
    /// The form's problems, by field (`provider`, `key_name`, `value`).
    pub errors: &'a [(String, String)],
}

pub fn credentials(tr: &Tr, p: CredentialsPage<'_>) -> Markup {
    let error_of = |field: &str| {
        p.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, text)| text.clone())
    };
    let summary: Vec<SummaryItem> = p
        .errors
        .iter()
        .map(|(field, text)| SummaryItem {
            target: Some(field.clone()),
            text: text.clone(),
        })
        .collect();
    let field = |id: &str, label: String, input: Markup, help: Option<String>| {
        let error = error_of(id);
        html! {
            div.field {
                label for=(id) { (label) }
                (input)
                @if let Some(h) = help { p.help id=(format!("{id}-help")) { (h) } }
                @if let Some(e) = error { p.field-error id=(format!("{id}-error")) { (e) } }
            }
        }
    };
    let described = |id: &str, help: bool| {
        let mut ids = Vec::new();
        if help {
            ids.push(format!("{id}-help"));
        }
        if error_of(id).is_some() {
            ids.push(format!("{id}-error"));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    };
    let invalid = |id: &str| error_of(id).map(|_| "true");
    html! {
        h1 { (tr.t("keys-title")) }
        p { (tr.t("keys-intro")) }
        @if let Some(text) = &p.done { (notice("ok", text)) }
        @if p.stored.is_empty() { p { (tr.t("keys-empty")) } }
        @else {
            div.table role="region" aria-label=(tr.t("keys-stored")) tabindex="0" {
                table {
                    caption.visually-hidden { (tr.t("keys-stored")) }
                    thead { tr {
                        th scope="col" { (tr.t("keys-provider")) } th scope="col" { (tr.t("keys-name")) }
                        th scope="col" { (tr.t("keys-updated")) } th scope="col" { span.visually-hidden { (tr.t("keys-actions")) } }
                    } }
                    tbody {
                        @for c in p.stored {
                            tr {
                                td.mono { (c.provider) }
                                td { (c.key_name) }
                                td { (time(&c.updated_at)) }
                                td {
                                    form method="get" action="/app/credentials/delete" {
                                        input type="hidden" name="provider" value=(c.provider);
                                        input type="hidden" name="key_name" value=(c.key_name);
                                        button.secondary.small type="submit"
                                            aria-label=(tr.a("keys-delete-label", &[("provider", Arg::from(&c.provider)), ("name", Arg::from(&c.key_name))])) {
                                            (tr.t("keys-delete"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="add" { (tr.t("keys-add-title")) }
        (error_summary(tr, &summary))
        form method="post" action="/app/credentials" novalidate {
            input type="hidden" name="_csrf" value=(p.csrf);
            (field("provider", tr.t("keys-provider"), html! {
                input type="text" id="provider" name="provider" value=(p.provider) list="providers" autocomplete="off"
                    spellcheck="false" autocapitalize="off"
                    required aria-required="true" aria-describedby=[described("provider", true)] aria-invalid=[invalid("provider")];
                datalist id="providers" { @for k in p.known { option value=(k) {} } }
            }, Some(tr.t("keys-provider-help"))))
            (field("key_name", tr.t("keys-name"), html! {
                input type="text" id="key_name" name="key_name" value=(p.key_name) autocomplete="off"
                    aria-describedby=[described("key_name", true)] aria-invalid=[invalid("key_name")];
            }, Some(tr.t("keys-name-help"))))
            (field("value", tr.t("keys-value"), html! {
                input type="password" id="value" name="value" autocomplete="off" required aria-required="true"
                    aria-describedby=[described("value", false)] aria-invalid=[invalid("value")];
            }, None))
            button type="submit" { (tr.t("keys-save")) }
        }
    }
}

/// "Delete this key?" before a key is deleted.
pub fn confirm_delete(tr: &Tr, csrf: &str, provider: &str, key_name: &str) -> Markup {
    html! {
        h1 { (tr.t("keys-confirm-title")) }
        p { (tr.a("keys-confirm-text", &[("provider", Arg::from(provider)), ("name", Arg::from(key_name))])) }
        form method="post" action="/app/credentials/delete" {
            input type="hidden" name="_csrf" value=(csrf);
            input type="hidden" name="provider" value=(provider);
            input type="hidden" name="key_name" value=(key_name);
            input type="hidden" name="confirm" value="yes";
            div.actions {
                button.danger type="submit" { (tr.t("keys-confirm-yes")) }
                a.button.secondary href="/app/credentials" { (tr.t("cancel")) }
            }
        }
    }
}

pub struct ConnectPage<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    pub providers: &'a [String],
    pub error: Option<&'a str>,
}

pub fn connect(tr: &Tr, p: ConnectPage<'_>) -> Markup {
    let summary: Vec<SummaryItem> = p
        .error
        .map(|e| SummaryItem {
            target: p.providers.first().map(|pr| format!("key-{pr}")),
            text: e.to_string(),
        })
        .into_iter()
        .collect();
    html! {
        h1 { (tr.t("connect-title")) }
        p { (tr.a("connect-intro", &[("email", Arg::from(p.email))])) }
        (error_summary(tr, &summary))
        form method="post" action="/app/connect" novalidate {
            input type="hidden" name="_csrf" value=(p.csrf);
            input type="hidden" name="token" value=(p.token);
            @for provider in p.providers {
                div.field {
                    label for=(format!("key-{provider}")) { (tr.a("connect-key-label", &[("provider", Arg::from(provider))])) }
                    input type="password" id=(format!("key-{provider}")) name=(format!("key:{provider}")) autocomplete="off" required aria-required="true";
                }
            }
            button type="submit" { (tr.t("connect-save")) }
        }
    }
}

pub fn message_page(heading: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    html! {
        h1 { (heading) }
        p role="status" { (text) }
        @if let Some((href, label)) = link { p { a href=(href) { (label) } } }
    }
}

/// A page for when even the language could not be worked out well: both.
pub fn bilingual_error() -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head { meta charset="utf-8"; title { "VieAgent" } }
            body {
                main {
                    h1 { "Đã xảy ra lỗi" }
                    p { "Vui lòng thử lại sau ít phút." }
                    h1 lang="en" { "Something went wrong" }
                    p lang="en" { "Please try again in a moment." }
                }
            }
        }
    }
}

/// The app's icon: the brand's initials on its colour.
pub const FAVICON: &str = concat!(
    r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">"##,
    r##"<rect width="64" height="64" rx="14" fill="#0b5cad"/>"##,
    r##"<text x="32" y="43" font-family="Arial,sans-serif" font-size="30" font-weight="700" fill="#fff" text-anchor="middle">VA</text>"##,
    "</svg>"
);
