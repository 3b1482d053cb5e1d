//! `/admin/v1/agents`: the marketplace catalog.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{AdminActor, audit, page};
use crate::agents::{self, AgentDefinition, AgentUpdate, ImportRequest};
use crate::error::{Error, FieldError, OnConstraint, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{AdminAuth, BadBody, Conflict, Invalid, NotFound};
use crate::state::AppState;
use crate::store::{Agent, AgentFilter, AgentPatch, AgentStatus, EngineType, StoreError, TaskMode};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .routes(routes!(publish_agent))
        .routes(routes!(archive_agent))
        .routes(routes!(validate_agent))
        .routes(routes!(validate_definition))
        .routes(routes!(import_agent))
}

/// An agent as the admin API shows it. Prices are decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub tool_name: String,
    pub description: String,
    pub engine_type: EngineType,
    pub engine_flow_id: String,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    pub required_credential_types: Vec<String>,
    #[schema(example = "9.99")]
    pub price_one_time: Option<String>,
    pub price_monthly: Option<String>,
    pub credits_per_call: i32,
    pub status: AgentStatus,
    #[schema(value_type = Object)]
    pub engine_config: Value,
    pub timeout_ms: Option<i32>,
    pub charge_failed_calls: bool,
    pub task_mode: TaskMode,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        Self {
            id: a.id,
            name: a.name,
            tool_name: a.tool_name,
            description: a.description,
            engine_type: a.engine_type,
            engine_flow_id: a.engine_flow_id,
            input_schema: a.input_schema,
            required_credential_types: a.required_credential_types,
            price_one_time: a.price_one_time.map(|d| d.to_string()),
            price_monthly: a.price_monthly.map(|d| d.to_string()),
            credits_per_call: a.credits_per_call,
            status: a.status,
            engine_config: a.engine_config,
            timeout_ms: a.timeout_ms,
            charge_failed_calls: a.charge_failed_calls,
            task_mode: a.task_mode,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    pub status: Option<AgentStatus>,
    pub engine: Option<EngineType>,
    /// Case-insensitive substring of name or tool name.
    #[param(max_length = 200)]
    pub name: Option<String>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    pub next_cursor: Option<String>,
}

/// The result of checking an agent without changing anything.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationReport {
    pub valid: bool,
    /// Field errors in the definition itself.
    pub errors: Vec<FieldError>,
    /// Reasons it cannot be published as it is (engine checks).
    pub problems: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    pub engine_type: EngineType,
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,128}$")]
    pub flow_id: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    pub tool_name: Option<String>,
    /// For flows that do not declare their inputs (plain webhooks).
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub publish: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub agent: AgentView,
    pub created: bool,
    pub published: bool,
    pub warnings: Vec<String>,
    /// Why it was not published (when `publish` was asked).
    pub problems: Vec<String>,
}

fn tool_name_taken() -> Error {
    Error::Duplicate(FieldError::new(
        "tool_name",
        "unique",
        "another agent already uses this tool_name",
    ))
}

async fn load(state: &AppState, id: Uuid) -> Result<Agent> {
    state
        .store()
        .get_agent(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no agent with id {id}")))
}

/// List agents, ordered by tool name.
#[utoipa::path(get, path = "/agents", tag = "agents", params(AgentQuery),
    responses(
        (status = 200, body = AgentPage),
        Invalid, AdminAuth,
    ))]
async fn list_agents(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AgentQuery>,
) -> Result<axum::Json<AgentPage>> {
    let limit = page::page_size(q.limit)?;
    if q.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Error::InvalidInput(
            "name: must be at most 200 characters".into(),
        ));
    }
    let after = page::after_text(q.cursor.as_deref())?;
    let agents = state
        .store()
        .list_agents(&AgentFilter {
            status: q.status,
            engine_type: q.engine,
            name_contains: q.name.filter(|n| !n.is_empty()),
            after_tool_name: after,
            limit: Some(limit + 1),
        })
        .await?;
    let (items, next_cursor) = page::page(agents, limit, AgentView::from, |a| {
        page::text_cursor(&a.tool_name)
    });
    Ok(axum::Json(AgentPage { items, next_cursor }))
}

/// Create an agent (as a draft; publish it with `POST /agents/{id}/publish`).
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentDefinition,
    responses(
        (status = 201, body = AgentView),
        Invalid, AdminAuth, Conflict, BadBody,
    ))]
async fn create_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiJson(body): ApiJson<AgentDefinition>,
) -> Result<(StatusCode, axum::Json<AgentView>)> {
    let new = body.validate().map_err(Error::Validation)?;
    let agent = state
        .store()
        .create_agent(&new)
        .await
        .on_unique(tool_name_taken)?;
    audit(
        &state,
        &actor,
        "agent.create",
        "agent",
        Some(agent.id.to_string()),
        json!({"tool_name": agent.tool_name}),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(agent.into())))
}

#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AgentView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn get_agent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AgentView>> {
    Ok(axum::Json(load(&state, id).await?.into()))
}

/// Change an agent. A published agent stays published only if its engine
/// checks still pass.
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), request_body = AgentUpdate,
    responses(
        (status = 200, body = AgentView),
        Invalid, AdminAuth, NotFound, Conflict, BadBody,
    ))]
async fn update_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AgentUpdate>,
) -> Result<axum::Json<AgentView>> {
    let patch = body.validate().map_err(Error::Validation)?;
    let current = load(&state, id).await?;
    if current.status == AgentStatus::Published && touches_engine(&patch) {
        let mut proposed = current.clone();
        apply_preview(&mut proposed, &patch);
        let problems = agents::publish_problems(state.engines(), &proposed).await;
        if !problems.is_empty() {
            return Err(Error::Refused {
                message: "this change would break the published agent; archive it first or fix the problems".into(),
                problems,
            });
        }
    }
    let agent = state
        .store()
        .update_agent(id, &patch)
        .await
        .on_unique(tool_name_taken)?;
    audit(
        &state,
        &actor,
        "agent.update",
        "agent",
        Some(id.to_string()),
        json!({"tool_name": agent.tool_name}),
    )
    .await;
    refresh(&state).await;
    Ok(axum::Json(agent.into()))
}

fn touches_engine(p: &AgentPatch) -> bool {
    p.engine_type.is_some()
        || p.engine_flow_id.is_some()
        || p.required_credential_types.is_some()
        || p.engine_config.is_some()
        || p.input_schema.is_some()
}

fn apply_preview(agent: &mut Agent, p: &AgentPatch) {
    if let Some(v) = p.engine_type {
        agent.engine_type = v;
    }
    if let Some(v) = &p.engine_flow_id {
        agent.engine_flow_id = v.clone();
    }
    if let Some(v) = &p.required_credential_types {
        agent.required_credential_types = v.clone();
    }
    if let Some(v) = &p.engine_config {
        agent.engine_config = v.clone();
    }
    if let Some(v) = &p.input_schema {
        agent.input_schema = v.clone();
    }
}

/// Delete an agent that was never called; agents with execution logs must be archived.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        Invalid, AdminAuth, NotFound, Conflict,
    ))]
async fn delete_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let agent = load(&state, id).await?;
    match state.store().delete_agent(id).await {
        Ok(true) => {}
        Ok(false) => return Err(Error::NotFound(format!("no agent with id {id}"))),
        Err(StoreError::ForeignKeyViolation { .. }) => {
            return Err(Error::Conflict(format!(
                "agent {} has execution logs or entitlements (the billing history keeps them); archive it instead: POST /admin/v1/agents/{id}/archive",
                agent.tool_name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    audit(
        &state,
        &actor,
        "agent.delete",
        "agent",
        Some(id.to_string()),
        json!({"tool_name": agent.tool_name}),
    )
    .await;
    refresh(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish: runs the engine checks (schema compiles, engine reachable, flow
/// exists, credential overrides enabled) and refuses with the problems.
#[utoipa::path(post, path = "/agents/{id}/publish", tag = "agents", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AgentView),
        Invalid, AdminAuth, NotFound, Conflict,
    ))]
async fn publish_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AgentView>> {
    let agent = load(&state, id).await?;
    let problems = agents::publish_problems(state.engines(), &agent).await;
    if !problems.is_empty() {
        return Err(Error::Refused {
            message: format!("agent {} cannot be published", agent.tool_name),
            problems,
        });
    }
    let agent = set_status(&state, id, AgentStatus::Published).await?;
    audit(
        &state,
        &actor,
        "agent.publish",
        "agent",
        Some(id.to_string()),
        json!({"tool_name": agent.tool_name}),
    )
    .await;
    Ok(axum::Json(agent.into()))
}

/// Archive: the tool disappears from every catalog; history is kept.
#[utoipa::path(post, path = "/agents/{id}/archive", tag = "agents", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = AgentView),
        Invalid, AdminAuth, NotFound,
    ))]
async fn archive_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<AgentView>> {
    load(&state, id).await?;
    let agent = set_status(&state, id, AgentStatus::Archived).await?;
    audit(
        &state,
        &actor,
        "agent.archive",
        "agent",
        Some(id.to_string()),
        json!({"tool_name": agent.tool_name}),
    )
    .await;
    Ok(axum::Json(agent.into()))
}

async fn set_status(state: &AppState, id: Uuid, status: AgentStatus) -> Result<Agent> {
    let agent = state
        .store()
        .update_agent(
            id,
            &AgentPatch {
                status: Some(status),
                ..AgentPatch::default()
            },
        )
        .await?;
    refresh(state).await;
    Ok(agent)
}

/// Catalog changes reach connected MCP sessions at once (other processes
/// hear through the database).
async fn refresh(state: &AppState) {
    if let Err(e) = state.refresh_catalog().await {
        tracing::warn!(error = %e, "catalog refresh after an admin change failed");
    }
}

/// Dry-run the publish checks of an existing agent.
#[utoipa::path(post, path = "/agents/{id}/validate", tag = "agents", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ValidationReport),
        Invalid, AdminAuth, NotFound,
    ))]
async fn validate_agent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<ValidationReport>> {
    let agent = load(&state, id).await?;
    let problems = agents::publish_problems(state.engines(), &agent).await;
    Ok(axum::Json(ValidationReport {
        valid: problems.is_empty(),
        errors: Vec::new(),
        problems,
    }))
}

/// Dry-run a definition: field rules, then the publish checks. Nothing is stored.
#[utoipa::path(post, path = "/agents/validate", tag = "agents", request_body = AgentDefinition,
    responses(
        (status = 200, body = ValidationReport),
        Invalid, AdminAuth, BadBody,
    ))]
async fn validate_definition(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AgentDefinition>,
) -> Result<axum::Json<ValidationReport>> {
    let new = body.validate().map_err(Error::Validation)?;
    let mut errors = Vec::new();
    if state
        .store()
        .get_agent_by_tool_name(&new.tool_name)
        .await?
        .is_some()
    {
        errors.push(FieldError::new(
            "tool_name",
            "unique",
            "another agent already uses this tool_name",
        ));
    }
    let preview = Agent {
        id: Uuid::nil(),
        name: new.name,
        tool_name: new.tool_name,
        description: new.description,
        engine_type: new.engine_type,
        engine_flow_id: new.engine_flow_id,
        input_schema: new.input_schema,
        required_credential_types: new.required_credential_types,
        price_one_time: new.price_one_time,
        price_monthly: new.price_monthly,
        credits_per_call: new.credits_per_call,
        status: AgentStatus::Draft,
        engine_config: new.engine_config,
        timeout_ms: new.timeout_ms,
        charge_failed_calls: new.charge_failed_calls,
        task_mode: new.task_mode,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    let problems = agents::publish_problems(state.engines(), &preview).await;
    Ok(axum::Json(ValidationReport {
        valid: errors.is_empty() && problems.is_empty(),
        errors,
        problems,
    }))
}

/// Create or update an agent from a live engine flow (name, input schema and
/// credential types read from the engine).
#[utoipa::path(post, path = "/agents/import", tag = "agents", request_body = ImportBody,
    responses(
        (status = 200, body = ImportView, description = "Updated an existing agent"),
        (status = 201, body = ImportView, description = "Created a new agent"),
        Invalid, AdminAuth, Conflict, BadBody,
    ))]
async fn import_agent(
    State(state): State<AppState>,
    Extension(actor): Extension<AdminActor>,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<(StatusCode, axum::Json<ImportView>)> {
    let report = agents::import(
        state.store(),
        state.engines(),
        ImportRequest {
            engine_type: body.engine_type,
            flow_id: body.flow_id,
            name: body.name,
            tool_name: body.tool_name,
            input_schema: body.input_schema,
            publish: body.publish,
        },
    )
    .await?;
    audit(
        &state,
        &actor,
        "agent.import",
        "agent",
        Some(report.agent.id.to_string()),
        json!({"tool_name": report.agent.tool_name, "created": report.created, "published": report.published}),
    )
    .await;
    refresh(&state).await;
    let status = if report.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(ImportView {
            published: report.published,
            created: report.created,
            warnings: report.description.warnings.clone(),
            problems: if body.publish {
                report.description.publish_blockers.clone()
            } else {
                Vec::new()
            },
            agent: report.agent.into(),
        }),
    ))
}
