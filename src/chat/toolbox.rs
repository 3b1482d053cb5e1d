//! The marketplace's search and the user's toolbox over HTTP: `GET
//! /v1/agents` searches, `GET /v1/me/toolbox` shows the toolbox and its
//! toolsets, `PUT`/`DELETE /v1/me/toolbox/{tool}` and
//! `/v1/me/toolsets/{toolset}/{tool}` change them. Every change reaches the
//! user's MCP sessions as `tools/list_changed`.

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::{Error, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::openapi::{Invalid, NotFound, Unauthorized, Unavailable};
use crate::state::AppState;
use crate::store::toolbox::TOOLBOX;
use crate::toolbox::{self, Card, Change, Query};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_agents))
        .routes(routes!(get_toolbox))
        .routes(routes!(put_toolbox, delete_toolbox))
        .routes(routes!(put_toolset, delete_toolset))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to look for in the agents' names and descriptions (Vietnamese
    /// or English; accents optional: "tom tat" finds "tóm tắt"). Empty:
    /// every agent, by tool name.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only agents with no price.
    pub free: Option<bool>,
    /// Only agents you bought.
    pub bought: Option<bool>,
    /// Only agents that use a key of this type (e.g. `openai`).
    pub needs_key: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Results per page (1–50, default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

/// One page of the marketplace, best match first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub agents: Vec<Card>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Search the marketplace's published agents, ranked by the database's
/// full-text search.
#[utoipa::path(get, path = "/agents", tag = "toolbox", params(SearchQuery),
    responses(
        (status = 200, body = AgentPage),
        Invalid, Unauthorized, Unavailable,
    ))]
async fn search_agents(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<axum::Json<AgentPage>> {
    let p = state.calls();
    let user = auth.user.id;
    let snapshot = p.catalog().snapshot();
    let entitled = p.entitlements().active_agents(p.store(), user).await?;
    let chosen = p.toolboxes().agents(p.store(), user, TOOLBOX).await?;
    let query = Query {
        text: q.q.unwrap_or_default(),
        free: q.free.unwrap_or(false),
        bought: q.bought.unwrap_or(false),
        needs_key: q.needs_key,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = toolbox::search(p.store(), &snapshot, &entitled, &chosen, &query).await?;
    Ok(axum::Json(AgentPage {
        agents: page.hits.iter().map(|h| h.card(state.config())).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Your toolbox and toolsets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolboxView {
    /// `all`: assistants at `/mcp` see every agent; `chosen`: they see
    /// these (`catalog.toolbox`).
    pub mode: String,
    /// The agents in your toolbox, by tool name.
    pub agents: Vec<Card>,
    /// Your named toolsets, by name.
    pub toolsets: Vec<ToolsetView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolsetView {
    #[schema(example = "writing")]
    pub name: String,
    /// Its MCP address (give it to one assistant).
    pub mcp_url: String,
    /// Its agents' tool names, in order.
    pub tools: Vec<String>,
}

/// Your toolbox: the agents your assistant sees (with `catalog.toolbox =
/// "chosen"`), and your toolsets, each with its own MCP address.
#[utoipa::path(get, path = "/me/toolbox", tag = "toolbox",
    responses(
        (status = 200, body = ToolboxView),
        Unauthorized, Unavailable,
    ))]
async fn get_toolbox(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
) -> Result<axum::Json<ToolboxView>> {
    let p = state.calls();
    let user = auth.user.id;
    let snapshot = p.catalog().snapshot();
    let entitled = p.entitlements().active_agents(p.store(), user).await?;
    let chosen = p.toolboxes().agents(p.store(), user, TOOLBOX).await?;
    let mut toolsets = Vec::new();
    for (name, _) in p.store().toolsets(user).await? {
        let ids = p.toolboxes().agents(p.store(), user, &name).await?;
        let mut tools: Vec<String> = ids
            .iter()
            .filter_map(|id| snapshot.by_id(*id))
            .map(|e| e.agent.tool_name.clone())
            .collect();
        tools.sort();
        toolsets.push(ToolsetView {
            mcp_url: format!(
                "{}/mcp/t/{name}",
                state
                    .config()
                    .public_base_url()
                    .as_str()
                    .trim_end_matches('/')
            ),
            name,
            tools,
        });
    }
    Ok(axum::Json(ToolboxView {
        mode: state.config().catalog.toolbox.as_str().into(),
        agents: toolbox::cards(&snapshot, state.config(), &chosen, &entitled),
        toolsets,
    }))
}

/// What a change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolboxChange {
    #[schema(example = "tom_tat_van_ban")]
    pub tool: String,
    /// `added`, `already_there`, `removed` or `not_there`.
    #[schema(example = "added")]
    pub change: String,
    /// The toolset changed (`null`: the toolbox).
    pub toolset: Option<String>,
}

fn answered(tool: String, change: Change, toolset: Option<String>) -> axum::Json<ToolboxChange> {
    axum::Json(ToolboxChange {
        tool,
        change: change.as_str().into(),
        toolset,
    })
}

async fn add(
    state: &AppState,
    auth: &AuthUser,
    set: &str,
    tool: String,
) -> Result<axum::Json<ToolboxChange>> {
    let snapshot = state.catalog().snapshot();
    let (change, _) = state
        .calls()
        .toolbox_editor()
        .add(&snapshot, auth.user.id, set, &tool)
        .await?;
    Ok(answered(
        tool,
        change,
        (!set.is_empty()).then(|| set.into()),
    ))
}

async fn remove(
    state: &AppState,
    auth: &AuthUser,
    set: &str,
    tool: String,
) -> Result<axum::Json<ToolboxChange>> {
    let snapshot = state.catalog().snapshot();
    let change = state
        .calls()
        .toolbox_editor()
        .remove(&snapshot, auth.user.id, set, &tool)
        .await?;
    Ok(answered(
        tool,
        change,
        (!set.is_empty()).then(|| set.into()),
    ))
}

/// Add a published agent to your toolbox (a priced one too: calling it
/// still needs the purchase). Idempotent.
#[utoipa::path(put, path = "/me/toolbox/{tool}", tag = "toolbox",
    params(("tool" = String, Path, description = "The agent's tool name")),
    responses(
        (status = 200, body = ToolboxChange),
        Unauthorized, NotFound, Unavailable,
    ))]
async fn put_toolbox(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(tool): ApiPath<String>,
) -> Result<axum::Json<ToolboxChange>> {
    add(&state, &auth, TOOLBOX, tool).await
}

/// Remove an agent from your toolbox and every toolset; its history stays.
/// Idempotent (`not_there` when it was not in it).
#[utoipa::path(delete, path = "/me/toolbox/{tool}", tag = "toolbox",
    params(("tool" = String, Path, description = "The agent's tool name")),
    responses(
        (status = 200, body = ToolboxChange),
        Unauthorized, Unavailable,
    ))]
async fn delete_toolbox(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(tool): ApiPath<String>,
) -> Result<axum::Json<ToolboxChange>> {
    remove(&state, &auth, TOOLBOX, tool).await
}

/// Add a published agent to one of your toolsets (made by its first
/// agent; the agent joins your toolbox too). Its MCP address is
/// `/mcp/t/{toolset}`.
#[utoipa::path(put, path = "/me/toolsets/{toolset}/{tool}", tag = "toolbox",
    params(
        ("toolset" = String, Path, pattern = r"^[a-z0-9][a-z0-9_-]{0,39}$"),
        ("tool" = String, Path, description = "The agent's tool name"),
    ),
    responses(
        (status = 200, body = ToolboxChange),
        Invalid, Unauthorized, NotFound, Unavailable,
    ))]
async fn put_toolset(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath((toolset, tool)): ApiPath<(String, String)>,
) -> Result<axum::Json<ToolboxChange>> {
    named(&toolset)?;
    add(&state, &auth, &toolset, tool).await
}

/// Remove an agent from one of your toolsets (it stays in your toolbox).
#[utoipa::path(delete, path = "/me/toolsets/{toolset}/{tool}", tag = "toolbox",
    params(
        ("toolset" = String, Path, pattern = r"^[a-z0-9][a-z0-9_-]{0,39}$"),
        ("tool" = String, Path, description = "The agent's tool name"),
    ),
    responses(
        (status = 200, body = ToolboxChange),
        Invalid, Unauthorized, Unavailable,
    ))]
async fn delete_toolset(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath((toolset, tool)): ApiPath<(String, String)>,
) -> Result<axum::Json<ToolboxChange>> {
    named(&toolset)?;
    remove(&state, &auth, &toolset, tool).await
}

/// A toolset's name is never empty (that would be the toolbox).
fn named(toolset: &str) -> Result<()> {
    if toolset.is_empty() {
        return Err(Error::InvalidInput("a toolset needs a name".into()));
    }
    Ok(())
}
