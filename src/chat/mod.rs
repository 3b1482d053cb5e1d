//! The chat-tools HTTP API under `/v1`, for chat apps that do not speak MCP:
//! list the user's tools in OpenAI, Anthropic or MCP form, invoke one, run a
//! model's tool calls as they come and get back ready-to-append results.
//! Authenticated by the user's API key; every call goes through the same
//! pipeline as MCP ([`crate::calls`]): validation, entitlement, credits,
//! Vault, journal.
//!
//! Shapes (see the OpenAPI document at `/v1/openapi.json`):
//! * OpenAI Chat Completions: tools `{"type":"function","function":{name,
//!   description, parameters}}`; the assistant's `tool_calls[]` carry
//!   `function.arguments` as a JSON *string*; results are `{"role":"tool",
//!   "tool_call_id", "content"}` messages.
//! * Anthropic Messages: tools `{name, description, input_schema}`; the
//!   assistant's `tool_use` blocks carry `input` as an object; results are
//!   `{"type":"tool_result","tool_use_id","content","is_error"}` blocks in
//!   one `user` message.
//!
//! Both vendors restrict tool names to `^[a-zA-Z0-9_-]{1,64}$`; a gateway tool
//! name with a `.` is exposed with `_` in its place and mapped back on call.

mod credentials;
mod marketplace;
mod toolbox;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use futures::future::join_all;
use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::calls::{self, CallError, CallRequest, ToolResult};
use crate::error::{Error, FieldError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{
    BadBody, BadRequest, Conflict, Invalid, NotFound, TooManyRequests, Unauthorized, Unavailable,
};
use crate::limits::Refusal;
use crate::state::AppState;
use crate::store::{ExecutionLog, ExecutionStatus, User};
use crate::toolbox::Scope;

/// Largest chat-tools request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most tool calls run from one `/v1/tool_calls` request.
pub const MAX_TOOL_CALLS: usize = 64;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VieAgent Gateway chat-tools API",
        description = "The marketplace's agents as tools for chat apps that do not speak MCP: \
                       OpenAI function tools, Anthropic tools or MCP tool objects; invoke one, \
                       or run a model's tool calls and get ready-to-append results. \
                       Authenticate with your API key: `Authorization: Bearer vak_…`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    security(("bearer" = [])),
    components(schemas(
        Problem,
        FieldError,
        crate::marketplace::EntitlementGranted,
        crate::marketplace::EntitlementRevoked,
        crate::marketplace::CreditsPurchased,
    )),
    tags(
        (name = "tools", description = "Your tools, calls and account"),
        (name = "toolbox", description = "The marketplace's agents, and the ones your assistant sees (your toolbox and toolsets)"),
        (name = "credentials", description = "Your provider keys, stored encrypted in the Vault (write-only)"),
        (name = "marketplace", description = "Events from the marketplace (VieAgent.vn): purchases, revocations, credit top-ups; signed with the shared secret, not a user's key")
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Your API key (vak_…)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "marketplace_signature",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "VieAgent-Signature",
                    "The marketplace's signature: t=<unix seconds>,v1=<hex HMAC-SHA256(marketplace.webhook_secret, \"<t>.<raw body>\")>",
                ),
            )),
        );
    }
}

/// The chat-tools routes (behind the user's key), the marketplace's signed
/// routes (not), and their one OpenAPI document, all from the handlers.
fn api() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_tools))
        .routes(routes!(invoke))
        .routes(routes!(tool_calls))
        .routes(routes!(get_execution, cancel_execution))
        .routes(routes!(me))
        .merge(credentials::routes())
        .merge(toolbox::routes())
        .split_for_parts();
    let (signed, events) = marketplace::routes().split_for_parts();
    openapi.merge(events);
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/v1")]);
    (api, signed, openapi)
}

/// The OpenAPI document of the chat-tools API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().2
}

pub fn routes(state: &AppState) -> Router {
    let (api, signed, spec) = api();
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::require_user,
        ))
        .merge(signed);
    let docs: Router<AppState> = utoipa_swagger_ui::SwaggerUi::new("/v1/docs")
        .url("/v1/openapi.json", spec)
        .into();
    Router::new()
        .nest("/v1", api)
        .merge(docs)
        .with_state(state.clone())
}

/// The name a vendor sees for a tool (vendors allow `[a-zA-Z0-9_-]` only).
pub fn vendor_name(tool_name: &str) -> String {
    tool_name.replace('.', "_")
}

/// The gateway tool a vendor-facing name refers to: the tool of that exact
/// name, else the one whose vendor name it is.
fn resolve_tool_name(state: &AppState, name: &str) -> Option<String> {
    if crate::toolbox::is_discovery_tool(name) && scope(state).set().is_some() {
        return Some(name.to_string());
    }
    let snapshot = state.catalog().snapshot();
    if snapshot.get(name).is_some() {
        return Some(name.to_string());
    }
    snapshot
        .entries()
        .find(|e| vendor_name(&e.agent.tool_name) == name)
        .map(|e| e.agent.tool_name.clone())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolFormat {
    #[default]
    Openai,
    Anthropic,
    Mcp,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ToolsQuery {
    /// `openai` (default), `anthropic` or `mcp`.
    #[param(inline)]
    pub format: Option<ToolFormat>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolList {
    pub format: ToolFormat,
    /// Pass these as the `tools` of a chat request.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
}

fn description(tool: &Tool) -> String {
    tool.description
        .as_deref()
        .map(str::to_string)
        .or_else(|| tool.title.clone())
        .unwrap_or_default()
}

fn parameters(tool: &Tool) -> Value {
    let mut schema = tool.input_schema.as_ref().clone();
    // A dialect marker is noise to the vendors (and some reject it).
    // `shift_remove`: the other keys keep the author's order (`remove`
    // would move the last one into its place).
    schema.shift_remove("$schema");
    Value::Object(schema)
}

pub fn openai_tool(tool: &Tool) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": vendor_name(&tool.name),
            "description": description(tool),
            "parameters": parameters(tool),
        }
    })
}

pub fn anthropic_tool(tool: &Tool) -> Value {
    json!({
        "name": vendor_name(&tool.name),
        "description": description(tool),
        "input_schema": parameters(tool),
    })
}

fn caller(auth: &AuthUser) -> Arc<User> {
    auth.user.clone()
}

/// Your tools, ready for a chat request: OpenAI function tools, Anthropic
/// tools or MCP tool objects. Priced tools you have not bought are listed
/// with a line saying so (unless the gateway hides them).
#[utoipa::path(get, path = "/tools", tag = "tools", params(ToolsQuery),
    responses(
        (status = 200, body = ToolList, example = json!({
            "format": "openai",
            "tools": [{"type": "function", "function": {
                "name": "demo_echo",
                "description": "Returns the message you send.",
                "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
            }}]
        })),
        BadRequest, Unauthorized, Unavailable,
    ))]
async fn list_tools(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiQuery(q): ApiQuery<ToolsQuery>,
) -> Result<axum::Json<ToolList>> {
    let format = q.format.unwrap_or_default();
    let tools = calls::visible_tools(state.calls(), &auth.user, &scope(&state))
        .await
        .map_err(|e| Error::Unavailable(format!("the tool catalog is unavailable: {e}")))?;
    let tools = tools
        .iter()
        .map(|t| match format {
            ToolFormat::Openai => openai_tool(t),
            ToolFormat::Anthropic => anthropic_tool(t),
            ToolFormat::Mcp => serde_json::to_value(t).unwrap_or(Value::Null),
        })
        .collect();
    Ok(axum::Json(ToolList { format, tools }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// The tool's arguments (a JSON object matching its parameters).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object, example = json!({"message": "hello"}))]
    pub arguments: Value,
    /// `false`: answer `202 Accepted` as soon as the call is recorded, and
    /// let it run (long flows); poll `GET /v1/executions/{id}` for its
    /// outcome, `DELETE` it to cancel. Same as `Prefer: respond-async`.
    #[serde(default = "yes")]
    pub wait: bool,
}

fn yes() -> bool {
    true
}

/// A call left running (`wait: false` or `Prefer: respond-async`).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeAccepted {
    /// The call's execution_logs row: its id is the handle.
    pub execution_id: Uuid,
    /// `running`.
    pub status: ExecutionStatus,
    /// Where its outcome will be (also the `Location` header).
    pub location: String,
}

/// A cancellation asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAccepted {
    pub execution_id: Uuid,
    /// `cancelling`: the call stops soon and its row ends `failed`
    /// ("cancelled", credits released).
    pub status: String,
}

/// Whether the request prefers an asynchronous answer (RFC 7240).
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeResponse {
    /// The execution_logs row of this call.
    pub execution_id: Option<Uuid>,
    /// `success` or `failed`.
    pub status: ExecutionStatus,
    /// The engine's structured result (on failure: `{"error": {kind, message, …}}`).
    #[schema(value_type = Object)]
    pub output: Value,
    /// The result as text, or what went wrong and what to do.
    pub text: String,
    pub credits_consumed: i32,
    /// Why it failed: `invalid_arguments`, `purchase_required`,
    /// `insufficient_credits`, `missing_credentials`, `timeout`, …
    pub error_kind: Option<String>,
}

impl From<ToolResult> for InvokeResponse {
    fn from(r: ToolResult) -> Self {
        Self {
            execution_id: r.execution_id,
            status: r.status,
            output: r.structured,
            text: r.text,
            credits_consumed: r.credits_consumed,
            error_kind: r.error_kind,
        }
    }
}

fn call_error(e: CallError) -> Error {
    match e {
        CallError::UnknownTool(name) => Error::NotFound(format!("no tool named '{name}'")),
        CallError::NotInScope { tool, .. } => Error::Conflict(format!(
            "'{tool}' is not in your toolbox: add it with PUT /v1/me/toolbox/{tool}, then call it"
        )),
        CallError::ArgumentsNotObject => Error::Validation(vec![FieldError::new(
            "arguments",
            "type",
            "must be a JSON object",
        )]),
        e @ (CallError::JournalUnavailable(_) | CallError::ShuttingDown) => {
            Error::Unavailable(e.to_string())
        }
        CallError::Limited { refusal, message } => match refusal {
            Refusal::Overloaded { .. } => Error::Unavailable(message),
            other => Error::TooManyRequests {
                message,
                retry_after: other.retry_after(),
            },
        },
    }
}

/// What the chat-tools API shows: the catalog, or with `catalog.toolbox =
/// "chosen"` the user's toolbox and the discovery tools.
fn scope(state: &AppState) -> Scope {
    Scope::of(state.config(), None)
}

fn call_request(
    state: &AppState,
    user: Arc<User>,
    tool_name: String,
    arguments: Value,
) -> CallRequest {
    CallRequest {
        scope: scope(state),
        user,
        tool_name,
        arguments,
        progress: None,
        cancel: CancellationToken::new(),
        session_id: None,
        transport: "chat",
    }
}

async fn run_call(
    state: &AppState,
    user: Arc<User>,
    tool_name: String,
    arguments: Value,
) -> std::result::Result<ToolResult, CallError> {
    // The call runs to completion even if the client goes away: its row is
    // finished and its credits settled either way.
    calls::call(
        state.calls(),
        call_request(state, user, tool_name, arguments),
    )
    .await
}

/// Call one tool. A tool that runs and fails is still a 200 with
/// `status: failed` and the reason (it is a result for the model); HTTP
/// errors are for requests that could not be run at all. With `wait: false`
/// (or `Prefer: respond-async`) a call that starts answers `202` at once and
/// runs on: its outcome is at the `Location`.
#[utoipa::path(post, path = "/tools/{tool_name}/invoke", tag = "tools",
    params(
        ("tool_name" = String, Path, description = "The tool's name (or its OpenAI/Anthropic name)"),
        ("Prefer" = Option<String>, Header, description = "`respond-async`: as `wait: false`"),
    ),
    request_body(content = InvokeRequest, example = json!({"arguments": {"message": "hello"}})),
    responses(
        (status = 200, body = InvokeResponse, example = json!({
            "execution_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11", "status": "success",
            "output": {"text": "hello"}, "text": "hello", "credits_consumed": 1, "error_kind": null
        })),
        (status = 202, body = InvokeAccepted, description = "The call runs on (`wait: false`); its outcome will be at `Location`",
            headers(("Location" = String, description = "`/v1/executions/{id}`")),
            example = json!({
            "execution_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11", "status": "running",
            "location": "/v1/executions/0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11"
        })),
        Invalid, Unauthorized, NotFound, Conflict, BadBody, TooManyRequests, Unavailable,
    ))]
async fn invoke(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    headers: HeaderMap,
    ApiPath(tool_name): ApiPath<String>,
    ApiJson(body): ApiJson<InvokeRequest>,
) -> Result<Response> {
    let name = resolve_tool_name(&state, &tool_name)
        .ok_or_else(|| Error::NotFound(format!("no tool named '{tool_name}'")))?;
    if body.wait && !prefers_async(&headers) {
        let result = run_call(&state, caller(&auth), name, body.arguments)
            .await
            .map_err(call_error)?;
        return Ok(axum::Json(InvokeResponse::from(result)).into_response());
    }
    let request = call_request(&state, caller(&auth), name, body.arguments);
    match calls::start(state.calls(), request)
        .await
        .map_err(call_error)?
    {
        calls::Started::Finished(result) => {
            Ok(axum::Json(InvokeResponse::from(result)).into_response())
        }
        calls::Started::Detached(id, _) => {
            let location = format!("/v1/executions/{id}");
            Ok((
                StatusCode::ACCEPTED,
                [
                    (LOCATION, location.clone()),
                    (
                        HeaderName::from_static("preference-applied"),
                        "respond-async".to_string(),
                    ),
                ],
                axum::Json(InvokeAccepted {
                    execution_id: id,
                    status: ExecutionStatus::Running,
                    location,
                }),
            )
                .into_response())
        }
    }
}

/// The model's tool calls, as it produced them: an OpenAI assistant message
/// (`tool_calls[]`, `function.arguments` a JSON string) or an Anthropic
/// assistant message (`content[]` with `tool_use` blocks). Other fields of
/// the message are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ToolCallsRequest {
    /// OpenAI: `[{"id", "type": "function", "function": {"name", "arguments"}}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
    /// Anthropic: an array of content blocks; the `tool_use` ones are run.
    /// (Ignored when `tool_calls` is present: an OpenAI message's content.)
    #[schema(value_type = Option<serde_json::Value>)]
    pub content: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallSummary {
    /// The OpenAI `tool_call_id` / Anthropic `tool_use_id`.
    pub id: String,
    pub tool: String,
    pub execution_id: Option<Uuid>,
    /// `success`, `failed`, or `not_run` (the call could not be made).
    pub status: String,
    pub credits_consumed: i32,
    pub error_kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallsResponse {
    pub format: ToolFormat,
    /// OpenAI: `role: tool` messages, one per call, in order — append them
    /// after the assistant message.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Value>>,
    /// Anthropic: one `user` message whose content holds a `tool_result`
    /// block per call, in order — append it after the assistant message.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// What each call did (execution ids and credits, for your records).
    pub results: Vec<CallSummary>,
}

/// One call to make, or the reason it cannot be made.
#[derive(Debug)]
struct PlannedCall {
    id: String,
    name: String,
    arguments: std::result::Result<Value, String>,
}

fn plan_openai(calls: &[Value]) -> Result<Vec<PlannedCall>> {
    let mut planned = Vec::with_capacity(calls.len());
    let mut errors = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let id = call.get("id").and_then(Value::as_str);
        let function = call.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let (Some(id), Some(name)) = (id, name) else {
            errors.push(FieldError::new(
                format!("tool_calls[{i}]"),
                "shape",
                "each tool call needs an id and function.name",
            ));
            continue;
        };
        let arguments = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => Ok(empty_object()),
            Some(Value::String(raw)) if raw.trim().is_empty() => Ok(empty_object()),
            Some(Value::String(raw)) => match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Object(_)) => Ok(v),
                Ok(other) => Err(format!(
                    "Error: the arguments for tool '{name}' must be a JSON object, got {}. \
                     Call it again with a JSON object of its parameters.",
                    json_type(&other)
                )),
                Err(e) => Err(format!(
                    "Error: the arguments for tool '{name}' are not valid JSON ({e}). \
                     Call it again with a JSON object of its parameters."
                )),
            },
            // Lenient: an object where a string belongs.
            Some(v @ Value::Object(_)) => Ok(v.clone()),
            Some(other) => Err(format!(
                "Error: the arguments for tool '{name}' must be a JSON string holding an object, \
                 got {}.",
                json_type(other)
            )),
        };
        planned.push(PlannedCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments,
        });
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(planned)
}

fn plan_anthropic(content: &Value) -> Result<Vec<PlannedCall>> {
    let Some(blocks) = content.as_array() else {
        return Err(Error::Validation(vec![FieldError::new(
            "content",
            "type",
            "must be an array of content blocks",
        )]));
    };
    let mut planned = Vec::new();
    let mut errors = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        let id = block.get("id").and_then(Value::as_str);
        let name = block.get("name").and_then(Value::as_str);
        let (Some(id), Some(name)) = (id, name) else {
            errors.push(FieldError::new(
                format!("content[{i}]"),
                "shape",
                "a tool_use block needs an id and a name",
            ));
            continue;
        };
        let arguments = match block.get("input") {
            None | Some(Value::Null) => Ok(empty_object()),
            Some(v @ Value::Object(_)) => Ok(v.clone()),
            // Some clients stream `input` as partial JSON text: accept a string holding an object.
            Some(Value::String(raw)) => match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(format!(
                    "Error: the input for tool '{name}' is not a JSON object. \
                     Call it again with an object of its parameters."
                )),
            },
            Some(other) => Err(format!(
                "Error: the input for tool '{name}' must be an object, got {}.",
                json_type(other)
            )),
        };
        planned.push(PlannedCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments,
        });
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(planned)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What one planned call produced: text for the model, whether it is an
/// error, and the summary.
struct Outcome {
    text: String,
    is_error: bool,
    summary: CallSummary,
}

async fn execute(state: &AppState, user: Arc<User>, call: PlannedCall) -> Result<Outcome> {
    let not_run = |call: &PlannedCall, text: String, kind: &str| Outcome {
        text,
        is_error: true,
        summary: CallSummary {
            id: call.id.clone(),
            tool: call.name.clone(),
            execution_id: None,
            status: "not_run".into(),
            credits_consumed: 0,
            error_kind: Some(kind.into()),
        },
    };
    let arguments = match &call.arguments {
        Ok(a) => a.clone(),
        Err(message) => return Ok(not_run(&call, message.clone(), "invalid_arguments")),
    };
    let Some(tool) = resolve_tool_name(state, &call.name) else {
        let text = format!(
            "Error: there is no tool named '{}'. Use one of the tools you were given.",
            call.name
        );
        return Ok(not_run(&call, text, "unknown_tool"));
    };
    match run_call(state, user, tool.clone(), arguments).await {
        Ok(r) => Ok(Outcome {
            is_error: r.is_error,
            summary: CallSummary {
                id: call.id,
                tool,
                execution_id: r.execution_id,
                status: r.status.to_string(),
                credits_consumed: r.credits_consumed,
                error_kind: r.error_kind,
            },
            text: r.text,
        }),
        Err(CallError::UnknownTool(_)) => Ok(not_run(
            &call,
            format!("Error: there is no tool named '{}'.", call.name),
            "unknown_tool",
        )),
        Err(e @ CallError::NotInScope { .. }) => {
            Ok(not_run(&call, e.to_string(), "not_in_toolbox"))
        }
        Err(CallError::ArgumentsNotObject) => Ok(not_run(
            &call,
            format!(
                "Error: the arguments for tool '{}' must be a JSON object.",
                call.name
            ),
            "invalid_arguments",
        )),
        // A limit: a result the model can relay (the other calls may have run).
        Err(CallError::Limited { refusal, message }) => Ok(not_run(&call, message, refusal.kind())),
        // Nothing was run and nothing could be recorded: not a result to
        // show the model, a reason to retry the request.
        Err(e @ (CallError::JournalUnavailable(_) | CallError::ShuttingDown)) => {
            Err(Error::Unavailable(e.to_string()))
        }
    }
}

/// Run the model's tool calls (concurrently) and answer with results ready
/// to append to the conversation. A call that cannot be made (unknown tool,
/// arguments that are not JSON) becomes a result saying so, for the model
/// to correct; the request itself fails only if it is malformed or the
/// gateway cannot record calls (503: nothing was run).
#[utoipa::path(post, path = "/tool_calls", tag = "tools",
    request_body(content = ToolCallsRequest, examples(
        ("openai" = (value = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "demo_echo", "arguments": "{\"message\":\"hi\"}"}}
        ]}))),
        ("anthropic" = (value = json!({"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "demo_echo", "input": {"message": "hi"}}
        ]})))
    )),
    responses(
        (status = 200, body = ToolCallsResponse, examples(
            ("openai" = (value = json!({"format": "openai",
                "messages": [{"role": "tool", "tool_call_id": "call_1", "content": "hi"}],
                "results": [{"id": "call_1", "tool": "demo_echo", "execution_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11",
                             "status": "success", "credits_consumed": 1, "error_kind": null}]}))),
            ("anthropic" = (value = json!({"format": "anthropic",
                "message": {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi", "is_error": false}]},
                "results": [{"id": "toolu_1", "tool": "demo_echo", "execution_id": "0f9c1a52-6f1e-4c55-9f57-3a2b8f0d8c11",
                             "status": "success", "credits_consumed": 1, "error_kind": null}]})))
        )),
        Invalid, Unauthorized, BadBody, Unavailable,
    ))]
async fn tool_calls(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiJson(body): ApiJson<ToolCallsRequest>,
) -> Result<axum::Json<ToolCallsResponse>> {
    let (format, planned) = match (&body.tool_calls, &body.content) {
        (Some(calls), _) => (ToolFormat::Openai, plan_openai(calls)?),
        (None, Some(content)) => (ToolFormat::Anthropic, plan_anthropic(content)?),
        (None, None) => {
            return Err(Error::Validation(vec![FieldError::new(
                "tool_calls",
                "required",
                "send an OpenAI assistant message with tool_calls, or an Anthropic assistant \
                 message whose content has tool_use blocks",
            )]));
        }
    };
    if planned.len() > MAX_TOOL_CALLS {
        return Err(Error::Validation(vec![FieldError::new(
            if format == ToolFormat::Openai {
                "tool_calls"
            } else {
                "content"
            },
            "max_items",
            format!("at most {MAX_TOOL_CALLS} tool calls per request"),
        )]));
    }
    let user = caller(&auth);
    let outcomes = join_all(
        planned
            .into_iter()
            .map(|call| execute(&state, user.clone(), call)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let mut results = Vec::with_capacity(outcomes.len());
    let (mut messages, mut blocks) = (Vec::new(), Vec::new());
    for o in outcomes {
        match format {
            ToolFormat::Anthropic => blocks.push(json!({
                "type": "tool_result",
                "tool_use_id": o.summary.id,
                "content": o.text,
                "is_error": o.is_error,
            })),
            _ => messages.push(json!({
                "role": "tool",
                "tool_call_id": o.summary.id,
                "content": o.text,
            })),
        }
        results.push(o.summary);
    }
    Ok(axum::Json(match format {
        ToolFormat::Anthropic => ToolCallsResponse {
            format,
            messages: None,
            message: Some(json!({"role": "user", "content": blocks})),
            results,
        },
        _ => ToolCallsResponse {
            format,
            messages: Some(messages),
            message: None,
            results,
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: Uuid,
    pub tool: Option<String>,
    pub agent_id: Uuid,
    pub status: ExecutionStatus,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ExecutionView {
    fn new(log: ExecutionLog, tool: Option<String>) -> Self {
        Self {
            id: log.id,
            tool,
            agent_id: log.agent_id,
            status: log.status,
            input: log.input_snapshot,
            output: log.output_snapshot,
            error: log.error,
            duration_ms: log.duration_ms,
            credits_consumed: log.credits_consumed,
            created_at: log.created_at,
            finished_at: log.finished_at,
        }
    }
}

/// One of your calls. Someone else's execution is "not found".
#[utoipa::path(get, path = "/executions/{id}", tag = "tools", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ExecutionView),
        Invalid, Unauthorized, NotFound,
    ))]
async fn get_execution(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<ExecutionView>> {
    let not_found = || Error::NotFound(format!("no execution with id {id}"));
    let log = state
        .store()
        .get_execution_log(id)
        .await?
        .filter(|log| log.user_id == auth.user.id)
        .ok_or_else(not_found)?;
    let tool = state
        .store()
        .get_agent(log.agent_id)
        .await?
        .map(|a| a.tool_name);
    Ok(axum::Json(ExecutionView::new(log, tool)))
}

/// Cancel one of your calls still running (e.g. started with `wait:
/// false`), whichever gateway replica runs it: the engine request is
/// dropped, the row ends `failed` ("cancelled") and its credits are
/// released. A call that has ended is a 409 naming how it ended.
#[utoipa::path(delete, path = "/executions/{id}", tag = "tools", params(("id" = Uuid, Path)),
    responses(
        (status = 202, body = CancelAccepted),
        Invalid, Unauthorized, NotFound, Conflict,
    ))]
async fn cancel_execution(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response> {
    let by = format!("self:{}", auth.user.email);
    match calls::cancel(state.calls(), &auth.user, id, &by).await? {
        None => Err(Error::NotFound(format!("no execution with id {id}"))),
        Some(calls::Cancel::Finished(status)) => Err(Error::Conflict(format!(
            "execution {id} has ended ({status}); there is nothing to cancel"
        ))),
        Some(calls::Cancel::Requested) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(CancelAccepted {
                execution_id: id,
                status: "cancelling".into(),
            }),
        )
            .into_response()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeCredits {
    pub balance: i64,
    /// Held by your calls in flight.
    pub reserved: i64,
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeEntitlement {
    pub id: Uuid,
    pub tool: Option<String>,
    pub agent_id: Uuid,
    pub kind: crate::store::EntitlementKind,
    pub active: bool,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub plan: String,
    pub credits: MeCredits,
    pub entitlements: Vec<MeEntitlement>,
}

/// Your account: credits and entitlements.
#[utoipa::path(get, path = "/me", tag = "tools",
    responses(
        (status = 200, body = Me),
        Unauthorized,
    ))]
async fn me(
    State(state): State<AppState>,
    Extension(auth): Extension<AuthUser>,
) -> Result<axum::Json<Me>> {
    let user = &auth.user;
    let account = state.store().credit_account(user.id).await?;
    let now = chrono::Utc::now();
    let mut entitlements = Vec::new();
    for e in state.store().list_entitlements(user.id).await? {
        let tool = state.catalog().tool_name(state.store(), e.agent_id).await?;
        entitlements.push(MeEntitlement {
            active: e.is_active(now),
            id: e.id,
            tool,
            agent_id: e.agent_id,
            kind: e.kind,
            starts_at: e.starts_at,
            expires_at: e.expires_at,
        });
    }
    Ok(axum::Json(Me {
        id: user.id,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        plan: user.plan.clone(),
        credits: MeCredits {
            balance: account.balance,
            reserved: account.reserved,
            available: account.available(),
        },
        entitlements,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_arguments_are_parsed_or_explained() {
        let calls = vec![
            json!({"id": "a", "type": "function", "function": {"name": "t", "arguments": "{\"x\":1}"}}),
            json!({"id": "b", "type": "function", "function": {"name": "t", "arguments": "{not json"}}),
            json!({"id": "c", "type": "function", "function": {"name": "t", "arguments": "[1]"}}),
            json!({"id": "d", "type": "function", "function": {"name": "t", "arguments": ""}}),
        ];
        let planned = plan_openai(&calls).expect("planned");
        assert_eq!(planned[0].arguments, Ok(json!({"x": 1})));
        let b = planned[1].arguments.as_ref().expect_err("not JSON");
        assert!(b.contains("not valid JSON"), "{b}");
        let c = planned[2].arguments.as_ref().expect_err("not an object");
        assert!(c.contains("must be a JSON object, got an array"), "{c}");
        assert_eq!(planned[3].arguments, Ok(json!({})));
        let err = plan_openai(&[json!({"type": "function"})]).expect_err("no id");
        assert!(matches!(err, Error::Validation(_)));
    }

    #[test]
    fn anthropic_tool_use_blocks_are_picked_out() {
        let content = json!([
            {"type": "text", "text": "thinking"},
            {"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"x": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "t", "input": 5}
        ]);
        let planned = plan_anthropic(&content).expect("planned");
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].arguments, Ok(json!({"x": 1})));
        assert!(planned[1].arguments.is_err());
    }

    #[test]
    fn vendor_names_replace_dots() {
        assert_eq!(vendor_name("acme.summarize-v2"), "acme_summarize-v2");
        assert_eq!(vendor_name("plain_name"), "plain_name");
    }
}
