//! The marketplace in the web app, and the buyer's choice of agents.
//!
//! **The marketplace** (`GET /app/catalog?q=&cursor=`): every published
//! agent, searched by the store's full-text search (accents optional: "tom
//! tat" finds "Tóm tắt"; an empty search lists every agent), as cards with
//! the price, whether it is bought, the keys it needs (and whether they are
//! stored), a link to its form, and — with `catalog.toolbox = "chosen"`,
//! where an assistant sees only the agents its user chose — *Add to my
//! assistant* or *Remove*. Paged by the search's opaque cursor. The search
//! form is a plain GET: it works without the page's script.
//!
//! **Adding and removing** (`POST /app/toolbox/add`, `/app/toolbox/remove`,
//! CSRF-checked like every form of the app): the same domain calls as `PUT`
//! and `DELETE /v1/me/toolbox/{tool}` (the user's MCP sessions are told
//! `tools/list_changed`), answered with a redirect (post/redirect/get) to
//! the page the form was on — the marketplace with its search, or the Tools
//! page — which says what changed, in the reader's language, only when it is
//! true.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::i18n::{Arg, Tr};
use super::pages::{self, TOOLBOX_ADD_PATH, TOOLBOX_REMOVE_PATH};
use super::{
    Holdings, PageSpec, Posted, app_page, error_page, holdings, redirect, signed_in,
    signed_in_post, tool_row, with_cookies,
};
use crate::config::ToolboxMode;
use crate::error::Error;
use crate::state::AppState;
use crate::store::toolbox::TOOLBOX;
use crate::toolbox::{self, MAX_QUERY_CHARS, Query as Search};

pub const CATALOG_PATH: &str = "/app/catalog";
const TOOLS_PATH: &str = "/app/tools";
/// Agents per page of results.
const PAGE: u32 = 12;

/// The value of an `Ok`, or return the `Err`, which is already the response.
macro_rules! respond {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CATALOG_PATH, get(catalog))
        .route(TOOLBOX_ADD_PATH, post(add))
        .route(TOOLBOX_REMOVE_PATH, post(remove))
}

/// What the redirect after a change carries: the tool added or removed,
/// or why it could not be.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    added: Option<String>,
    removed: Option<String>,
    /// `unknown`: no such published agent.
    error: Option<String>,
}

/// The notice a page shows after a change: said only when true (the agent
/// is in the toolbox now, or no longer is) and naming the agent as the
/// marketplace does, so a crafted link cannot make the page say anything
/// else.
pub(super) fn done_notice(
    state: &AppState,
    tr: &Tr,
    held: &Holdings,
    done: &Done,
) -> Option<(&'static str, String)> {
    let snapshot = state.catalog().snapshot();
    let named = |tool: &Option<String>| {
        tool.as_deref()
            .and_then(|t| snapshot.get(t))
            .map(|e| (e.agent.id, e.agent.name.clone()))
    };
    if let Some((id, name)) = named(&done.added)
        && held.toolbox.contains(&id)
    {
        return Some(("ok", tr.a("toolbox-added", &[("tool", Arg::from(&name))])));
    }
    if let Some((id, name)) = named(&done.removed)
        && !held.toolbox.contains(&id)
    {
        return Some(("ok", tr.a("toolbox-removed", &[("tool", Arg::from(&name))])));
    }
    (done.error.as_deref() == Some("unknown")).then(|| ("error", tr.t("toolbox-error-unknown")))
}

#[derive(Debug, Default, Deserialize)]
struct CatalogQuery {
    q: Option<String>,
    cursor: Option<String>,
    #[serde(flatten)]
    done: Done,
}

async fn catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
) -> Response {
    let (browser, user) = respond!(signed_in(&state, &headers).await);
    let tr = browser.tr();
    let text = q.q.unwrap_or_default();
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let here = pages::catalog_link(&text, cursor.as_deref());
    let held = match holdings(&state, &user).await {
        Ok(held) => held,
        Err(e) => return error_page(&state, &browser, e),
    };
    let p = state.calls();
    let snapshot = p.catalog().snapshot();
    let search = Search {
        text: text.trim().to_string(),
        cursor: cursor.clone(),
        limit: Some(PAGE),
        ..Search::default()
    };
    let (rows, more, error) =
        match toolbox::search(p.store(), &snapshot, &held.entitled, &held.toolbox, &search).await {
            Ok(page) => {
                let rows: Vec<pages::ToolRow> = page
                    .hits
                    .iter()
                    .map(|hit| tool_row(&state, &tr, &hit.entry.agent, &held, &here))
                    .collect();
                let more = page
                    .next_cursor
                    .map(|next| pages::catalog_link(&text, Some(&next)));
                (rows, more, None)
            }
            // The search's own mistakes, in the reader's words.
            Err(Error::Validation(problems)) => {
                let long = problems.iter().any(|p| p.field == "q");
                let error = if long {
                    tr.a("catalog-error-long", &[("max", MAX_QUERY_CHARS.into())])
                } else {
                    tr.t("catalog-error-cursor")
                };
                (Vec::new(), None, Some(error))
            }
            Err(e) => return error_page(&state, &browser, e),
        };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let title = if error.is_some() {
        tr.a(
            "title-with-errors",
            &[("title", Arg::from(&tr.t("catalog-title")))],
        )
    } else {
        tr.t("catalog-title")
    };
    let csrf = browser.csrf_token(&state);
    let body = pages::catalog(
        &tr,
        &pages::CatalogView {
            query: &text,
            paged: cursor.is_some(),
            rows: &rows,
            more,
            chosen: state.config().catalog.toolbox == ToolboxMode::Chosen,
            csrf: &csrf,
            here: &here,
            notice: done_notice(&state, &tr, &held, &q.done),
            error,
        },
    );
    // The language switcher comes back to this search, not only the page.
    let spec = PageSpec {
        status,
        title: &title,
        current: CATALOG_PATH,
        here: &here,
    };
    app_page(&state, &browser, spec, body)
}

/// The page a toolbox form came from, to go back to: the marketplace with
/// its search, or the Tools page (nothing else, and never another site).
fn back_to(back: Option<&str>) -> String {
    let back = back.unwrap_or("");
    let back = back.split('#').next().unwrap_or("");
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    if path != CATALOG_PATH {
        return TOOLS_PATH.into();
    }
    let mut text = String::new();
    let mut cursor = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "q" => text = v.into_owned(),
            "cursor" if !v.is_empty() => cursor = Some(v.into_owned()),
            _ => {}
        }
    }
    pages::catalog_link(&text, cursor.as_deref())
}

async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    change(state, headers, Posted(pairs), true).await
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    change(state, headers, Posted(pairs), false).await
}

/// Add the posted tool to the user's toolbox, or remove it, and go back.
async fn change(state: AppState, headers: HeaderMap, posted: Posted, adding: bool) -> Response {
    let (browser, user) = respond!(signed_in_post(&state, &headers, &posted).await);
    let tool = posted.get("tool").unwrap_or("").trim().to_string();
    let back = back_to(posted.get("back"));
    let snapshot = state.catalog().snapshot();
    let editor = state.calls().toolbox_editor();
    let changed = if adding {
        editor
            .add(&snapshot, user.id, TOOLBOX, &tool)
            .await
            .map(|(change, _)| change)
    } else {
        editor.remove(&snapshot, user.id, TOOLBOX, &tool).await
    };
    let said = match changed {
        Ok(change) => {
            tracing::info!(user_id = %user.id, tool = %tool, change = change.as_str(), "toolbox changed in the web app");
            let key = if adding { "added" } else { "removed" };
            format!("{key}={}", pages::url_encode(&tool))
        }
        // No such published agent (unpublished since the page was shown,
        // or a made-up name): a sentence on the page it came from.
        Err(Error::NotFound(_) | Error::Validation(_)) => "error=unknown".into(),
        Err(e) => return error_page(&state, &browser, e),
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    with_cookies(&browser, redirect(&format!("{back}{sep}{said}")), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_goes_only_to_the_marketplace_or_the_tools() {
        assert_eq!(back_to(None), "/app/tools");
        assert_eq!(back_to(Some("/app/tools")), "/app/tools");
        assert_eq!(back_to(Some("https://evil.example/")), "/app/tools");
        assert_eq!(back_to(Some("//evil.example/app/catalog")), "/app/tools");
        assert_eq!(back_to(Some("/app/credentials")), "/app/tools");
        assert_eq!(back_to(Some("/app/catalog")), "/app/catalog");
        // The search and its page stay; an earlier notice does not.
        assert_eq!(
            back_to(Some(
                "/app/catalog?q=t%C3%B3m+t%E1%BA%AFt&cursor=12&added=x#r"
            )),
            "/app/catalog?q=t%C3%B3m+t%E1%BA%AFt&cursor=12"
        );
        assert_eq!(back_to(Some("/app/catalog?cursor=&q=")), "/app/catalog");
    }
}
