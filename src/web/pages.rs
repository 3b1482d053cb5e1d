//! The web app's HTML, with maud: every interpolated value is escaped (tool
//! names and descriptions, results, errors), so no text from an agent, an
//! engine or a user becomes markup. No inline script or style: the
//! Content-Security-Policy allows only this app's own two assets.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::store::{ExecutionLog, LedgerEntry};
use crate::vault::CredentialInfo;

/// The signed-in user's navigation, or none on public pages.
pub struct Chrome<'a> {
    pub title: &'a str,
    pub email: Option<&'a str>,
    pub csrf: &'a str,
    pub current: &'a str,
}

pub fn layout(chrome: &Chrome<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (chrome.title) " · VieAgent" }
                link rel="stylesheet" href="/app/assets/app.css";
                script src="/app/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "VieAgent" }
                    @if let Some(email) = chrome.email {
                        nav aria-label="Main" {
                            @for (href, label) in [("/app/tools", "Tools"), ("/app/history", "History"), ("/app/credits", "Credits"), ("/app/credentials", "Credentials")] {
                                a href=(href) aria-current=[(chrome.current == href).then_some("page")] { (label) }
                            }
                        }
                        form.signout method="post" action="/app/logout" {
                            input type="hidden" name="_csrf" value=(chrome.csrf);
                            span.who { (email) }
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

pub fn login(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        p { "Sign in with your VieAgent API key (" code { "vak_…" } "). It is checked once; the browser then keeps a session cookie, never the key." }
        @if let Some(e) = error { (notice("error", e)) }
        form method="post" action="/app/login" novalidate {
            input type="hidden" name="_csrf" value=(csrf);
            div.field {
                label for="api_key" { "API key" }
                input type="password" id="api_key" name="api_key" autocomplete="off" required aria-required="true";
            }
            button type="submit" { "Sign in" }
        }
    }
}

/// A row of the tools page.
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
}

pub fn tools(rows: &[ToolRow]) -> Markup {
    html! {
        h1 { "Your tools" }
        @if rows.is_empty() { p { "No tools are published for you yet." } }
        ul.cards {
            @for t in rows {
                li.card {
                    h2 { a href=(format!("/app/tools/{}", t.name)) { (t.title) } }
                    p.mono { (t.name) }
                    p { (t.description) }
                    dl {
                        dt { "Price" }
                        dd { (t.price.as_deref().unwrap_or("Free")) " · " (t.credits_per_call) " credits per call" }
                        @if t.priced {
                            dt { "Bought" }
                            dd { @if t.bought { "Yes" } @else { "No — ask your administrator to grant access" } }
                        }
                        @if !t.credentials.is_empty() {
                            dt { "Keys" }
                            dd {
                                @for (provider, stored) in &t.credentials {
                                    @if *stored {
                                        span.badge.ok { (provider) " ✓" } " "
                                    } @else {
                                        a.button.small href=(format!("/app/credentials?provider={provider}#add")) { "Connect " (provider) } " "
                                    }
                                }
                            }
                        }
                    }
                    a.button href=(format!("/app/tools/{}", t.name)) { "Open" }
                }
            }
        }
    }
}

/// What running a tool from its form gave.
pub enum RunOutcome {
    Success {
        text: String,
        execution_id: Option<String>,
        credits: i32,
    },
    Failed {
        text: String,
        execution_id: Option<String>,
    },
    MissingCredentials(Vec<String>),
}

pub struct ToolForm<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub csrf: &'a str,
    pub fields: Markup,
    pub form_errors: &'a [String],
    pub outcome: Option<RunOutcome>,
}

pub fn tool_form(f: ToolForm<'_>) -> Markup {
    html! {
        p { a href="/app/tools" { "← All tools" } }
        h1 { (f.title) }
        p { (f.description) }
        @if let Some(outcome) = &f.outcome {
            section.result aria-live="polite" {
                @match outcome {
                    RunOutcome::Success { text, execution_id, credits } => {
                        h2 { "Result" }
                        pre.output id="result" { (text) }
                        p.meta {
                            (credits) " credits used"
                            @if let Some(id) = execution_id { " · " a href=(format!("/app/history/{id}")) { "history entry" } }
                        }
                    }
                    RunOutcome::Failed { text, execution_id } => {
                        h2 { "The tool did not run" }
                        pre.output.error id="result" role="alert" { (text) }
                        @if let Some(id) = execution_id { p.meta { a href=(format!("/app/history/{id}")) { "history entry" } } }
                    }
                    RunOutcome::MissingCredentials(providers) => {
                        h2 { "A key is missing" }
                        p.notice.error role="alert" {
                            "This tool needs your key for: " (providers.join(", ")) ". "
                            @for p in providers {
                                a href=(format!("/app/credentials?provider={p}#add")) { "Add your " (p) " key" } " "
                            }
                        }
                    }
                }
            }
        }
        @if !f.form_errors.is_empty() {
            div.notice.error role="alert" {
                p { "Please correct the highlighted fields." }
                ul { @for e in f.form_errors { li { (e) } } }
            }
        }
        form.run method="post" action=(format!("/app/tools/{}", f.name)) novalidate {
            input type="hidden" name="_csrf" value=(f.csrf);
            (f.fields)
            p.progress id="progress" role="status" aria-live="polite" hidden { "Running…" }
            button type="submit" id="run" { "Run" }
        }
    }
}

pub fn history(rows: &[(ExecutionLog, String)], older: Option<String>) -> Markup {
    html! {
        h1 { "History" }
        @if rows.is_empty() { p { "No calls yet." } }
        @else {
            div.table {
                table {
                    thead { tr { th { "When" } th { "Tool" } th { "Status" } th { "Duration" } th { "Credits" } } }
                    tbody {
                        @for (row, tool) in rows {
                            tr {
                                td { a href=(format!("/app/history/{}", row.id)) { (row.created_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                                td.mono { (tool) }
                                td { span class=(format!("badge {}", row.status.as_str())) { (row.status.as_str()) } }
                                td { @if let Some(ms) = row.duration_ms { (ms) " ms" } @else { "—" } }
                                td { (row.credits_consumed) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = older { p { a href=(format!("/app/history?before={cursor}")) { "Older calls →" } } }
    }
}

fn pretty(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        .unwrap_or_else(|| "—".into())
}

pub fn execution(row: &ExecutionLog, tool: &str) -> Markup {
    html! {
        p { a href="/app/history" { "← History" } }
        h1 { "Call of " span.mono { (tool) } }
        dl.facts {
            dt { "Status" } dd { span class=(format!("badge {}", row.status.as_str())) { (row.status.as_str()) } }
            dt { "Started" } dd { (row.created_at.to_rfc3339()) }
            dt { "Duration" } dd { @if let Some(ms) = row.duration_ms { (ms) " ms" } @else { "—" } }
            dt { "Credits" } dd { (row.credits_consumed) }
            dt { "Id" } dd.mono { (row.id) }
        }
        @if let Some(e) = &row.error { h2 { "Error" } pre.output.error { (e) } }
        h2 { "Input (secrets redacted)" }
        pre.output { (pretty(&row.input_snapshot)) }
        h2 { "Output (secrets redacted)" }
        pre.output { (pretty(&row.output_snapshot)) }
    }
}

pub fn credits(balance: i64, reserved: i64, ledger: &[LedgerEntry]) -> Markup {
    html! {
        h1 { "Credits" }
        dl.facts {
            dt { "Balance" } dd id="balance" { (balance) }
            dt { "Reserved by calls running now" } dd { (reserved) }
            dt { "Available" } dd { (balance - reserved) }
        }
        h2 { "Ledger" }
        @if ledger.is_empty() { p { "No entries yet." } }
        @else {
            div.table {
                table {
                    thead { tr { th { "When" } th { "Change" } th { "Reason" } th { "Balance after" } } }
                    tbody {
                        @for e in ledger {
                            tr {
                                td { (e.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td { @if e.delta > 0 { "+" } (e.delta) }
                                td { (e.reason) }
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
    pub message: Option<(&'a str, String)>,
}

pub fn credentials(p: CredentialsPage<'_>) -> Markup {
    html! {
        h1 { "Your keys" }
        p { "Provider keys are stored encrypted in the gateway's Vault and used only for your own calls. They are never shown again, not even to you." }
        @if let Some((kind, text)) = &p.message { (notice(kind, text)) }
        @if p.stored.is_empty() { p { "No keys stored yet." } }
        @else {
            div.table {
                table {
                    thead { tr { th { "Provider" } th { "Name" } th { "Updated" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for c in p.stored {
                            tr {
                                td.mono { (c.provider) }
                                td { (c.key_name) }
                                td { (c.updated_at.format("%Y-%m-%d %H:%M UTC")) }
                                td {
                                    form method="post" action="/app/credentials/delete" {
                                        input type="hidden" name="_csrf" value=(p.csrf);
                                        input type="hidden" name="provider" value=(c.provider);
                                        input type="hidden" name="key_name" value=(c.key_name);
                                        button.secondary.small type="submit" aria-label=(format!("Delete {} key {}", c.provider, c.key_name)) { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="add" { "Add or replace a key" }
        form method="post" action="/app/credentials" novalidate {
            input type="hidden" name="_csrf" value=(p.csrf);
            div.field {
                label for="provider" { "Provider" }
                input type="text" id="provider" name="provider" value=(p.provider) list="providers" autocomplete="off" required aria-required="true" aria-describedby="provider-help";
                p.help id="provider-help" { "e.g. openai, anthropic, google_sheets" }
                datalist id="providers" { @for k in p.known { option value=(k) {} } }
            }
            div.field {
                label for="key_name" { "Key name" }
                input type="text" id="key_name" name="key_name" value="default" autocomplete="off";
            }
            div.field {
                label for="value" { "Key" }
                input type="password" id="value" name="value" autocomplete="off" required aria-required="true";
            }
            button type="submit" { "Save key" }
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

pub fn connect(p: ConnectPage<'_>) -> Markup {
    html! {
        h1 { "Add your keys" }
        p { "For the account " strong { (p.email) } ". The keys go straight to the gateway's encrypted Vault; they are not shown to your assistant. This link works once." }
        @if let Some(e) = p.error { (notice("error", e)) }
        form method="post" action="/app/connect" novalidate {
            input type="hidden" name="_csrf" value=(p.csrf);
            input type="hidden" name="token" value=(p.token);
            @for provider in p.providers {
                div.field {
                    label for=(format!("key-{provider}")) { "Your " (provider) " key" }
                    input type="password" id=(format!("key-{provider}")) name=(format!("key:{provider}")) autocomplete="off" required aria-required="true";
                }
            }
            button type="submit" { "Save" }
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
