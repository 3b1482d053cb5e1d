//! The one call pipeline. Every transport (MCP over stdio, streamable HTTP
//! and legacy SSE; the chat-tools API) turns its request into a
//! [`CallRequest`] and its wire format out of the [`ToolResult`]; every rule
//! lives here, once:
//!
//! look up the tool → validate arguments against its schema → check access
//! (account enabled; a priced agent needs an active entitlement) → resolve
//! the user's credentials from the Vault → **reserve the call's credits and
//! commit the journal row (`running`) before calling the engine** (no
//! credits: the row is recorded `failed` and the engine is not called) →
//! call the engine (cancellable, with deadline) → scrub injected secrets from
//! the output → finish the row and settle its credits in one transaction
//! (`success`: charged; failed: released, or charged if the agent says so;
//! cancelled: released) → answer.
//!
//! A call that fails before the engine still gets exactly one row (`failed`,
//! with the reason). Engine failures are tool results with `is_error`, never
//! protocol errors.
//!
//! The stages, each in its own room, hand each other values that say what
//! happened (`stages` runs them in order):
//! * `admit`: validate → access → credentials ⇒ admitted or refused;
//! * the limits' slot for the agent and the engine;
//! * `settle::start`: credits reserved and the row durable ⇒ running, or no credits;
//! * `invoke`: the engine, cancellable ⇒ what it answered (credentials
//!   and slot dropped as soon as it has);
//! * `settle`: the row finished and its credits settled ⇒ the tool result;
//! * the metrics of the finished call.

mod admit;
pub mod discovery;
mod inflight;
mod invoke;
pub mod journal;
mod pipeline;
mod purge;
pub mod redact;
mod settle;
mod stages;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::catalog::{Snapshot, ToolPages};
use crate::limits::Refusal;
use crate::store::{ExecutionStatus, StoreError, User};
use crate::toolbox::Scope;

pub use pipeline::Pipeline;
pub use validate::{
    ArgumentError, Problem, argument_errors, escape_pointer, field_rank, format_example,
    resolve_ref, unescape_pointer, validation_errors,
};

/// Progress reporting back to the caller's transport (MCP progress
/// notifications). Steps: 1 started (with the execution id, where the
/// outcome can be read should the client give up waiting), 2 waiting on
/// engine — repeated every `mcp.progress_interval` with a growing fraction
/// (progress resets some clients' request timeouts) — 3 done.
#[async_trait]
pub trait Progress: Send + Sync {
    async fn report(&self, progress: f64, total: u32, message: &str);
}

pub const PROGRESS_STEPS: u32 = 3;

/// The `error` of a call's row when it was cancelled.
pub const CANCELLED: &str = "The call was cancelled.";
/// The `error` of a call's row when its gateway process died mid-call.
pub const GATEWAY_RESTARTED: &str = "gateway restarted";

/// One tool call, as every transport hands it over.
pub struct CallRequest {
    pub user: Arc<User>,
    pub tool_name: String,
    pub arguments: Value,
    pub progress: Option<Arc<dyn Progress>>,
    /// Fires when the client cancels or disconnects.
    pub cancel: CancellationToken,
    pub session_id: Option<String>,
    /// The transport, for logs and metrics (`stdio`, `streamable_http`, `sse`, `chat`).
    pub transport: &'static str,
    /// What the request may see and call: the catalog, the user's
    /// toolbox, or one of their toolsets (with the discovery tools).
    pub scope: Scope,
}

/// What a call produced, in transport-neutral form.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The execution_logs row (absent only when nothing could be journaled).
    pub execution_id: Option<Uuid>,
    pub status: ExecutionStatus,
    pub is_error: bool,
    /// Text for chat clients (the answer, or what went wrong and what to do).
    pub text: String,
    /// Structured output (always a JSON object).
    pub structured: Value,
    pub credits_consumed: i32,
    /// Machine-readable failure kind (`invalid_arguments`, `missing_credentials`,
    /// `cancelled`, `timeout`, …).
    pub error_kind: Option<String>,
}

impl ToolResult {
    /// The strings at `structured.error.<field>` (an array), if any.
    fn error_strings(&self, field: &str) -> Vec<String> {
        self.structured["error"][field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An `invalid_arguments` result's messages (`"/path: text (rule: r)"`).
    pub fn validation_errors(&self) -> Vec<String> {
        self.error_strings("errors")
    }

    /// A `missing_credentials` result's providers and its connect link.
    pub fn missing_credentials(&self) -> Option<(Vec<String>, Option<url::Url>)> {
        if self.error_kind.as_deref() != Some("missing_credentials") {
            return None;
        }
        let link = self.structured["error"]["connect_url"]
            .as_str()
            .and_then(|u| url::Url::parse(u).ok());
        Some((self.error_strings("missing_credentials"), link))
    }
}

/// Failures that are not tool results.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("unknown tool '{0}'")]
    UnknownTool(String),
    /// A published agent the request's scope does not show.
    #[error(
        "'{tool}' is not in {}: call add_agent with {{\"tool\": \"{tool}\"}} first (search_agents finds agents)",
        scope.describe()
    )]
    NotInScope { tool: String, scope: Scope },
    #[error("arguments must be a JSON object")]
    ArgumentsNotObject,
    /// The journal (database) is unavailable: the call was not run, because an
    /// unjournaled call could not be billed or audited.
    #[error("journal unavailable: the call was not run ({0})")]
    JournalUnavailable(String),
    /// A limit refused the call before anything ran (not journaled).
    #[error("{message}")]
    Limited { refusal: Refusal, message: String },
    /// The gateway is shutting down and takes no new calls.
    #[error("the gateway is shutting down; the call was not run. Try again in a moment")]
    ShuttingDown,
}

impl CallError {
    /// The journal could not be written: the call is not run.
    fn journal(e: &StoreError) -> Self {
        let reason = match e {
            StoreError::Unavailable(_) => "the database is unreachable".into(),
            other => other.to_string(),
        };
        CallError::JournalUnavailable(reason)
    }

    /// When a retry may succeed, for `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Limited { refusal, .. } => Some(refusal.retry_after()),
            CallError::ShuttingDown | CallError::JournalUnavailable(_) => {
                Some(Duration::from_secs(5))
            }
            _ => None,
        }
    }
}

/// The tools `user` sees in `scope` (`tools/list`, `GET /v1/tools`). The
/// catalog: every published agent, with priced tools the user has not
/// bought marked or hidden (`catalog.show_unpurchased`). A toolbox or
/// toolset: the discovery tools, then its agents (priced ones not bought
/// marked), read from the user's set, so the list does not grow with the
/// marketplace.
pub async fn visible_tools(
    state: &Pipeline,
    user: &User,
    scope: &Scope,
) -> Result<Arc<Vec<rmcp::model::Tool>>, StoreError> {
    visible_tools_in(state, &state.catalog().snapshot(), user, scope).await
}

/// [`visible_tools`] from a given catalog snapshot.
pub async fn visible_tools_in(
    state: &Pipeline,
    snapshot: &Snapshot,
    user: &User,
    scope: &Scope,
) -> Result<Arc<Vec<rmcp::model::Tool>>, StoreError> {
    let entitled = entitled_in(state, snapshot, user).await?;
    let Some(set) = scope.set() else {
        return Ok(match entitled {
            None => snapshot.tools(),
            Some(entitled) => snapshot.tools_for(&entitled),
        });
    };
    let agents = state
        .toolboxes()
        .agents(state.store(), user.id, set)
        .await?;
    let mut tools = discovery::tools().to_vec();
    // An agent named like a discovery tool before the name was reserved
    // cannot be called here (the discovery tool answers): not listed.
    tools.extend(
        snapshot
            .tools_of(&agents, entitled.as_ref())
            .into_iter()
            .filter(|tool| !crate::toolbox::is_discovery_tool(&tool.name)),
    );
    Ok(Arc::new(tools))
}

/// Whether `scope` lets `user` call the agent (the catalog: always). When
/// the toolbox cannot be read, `true`: the call itself then says why.
pub async fn in_scope(state: &Pipeline, user: &User, scope: &Scope, agent_id: Uuid) -> bool {
    let Some(set) = scope.set() else {
        return true;
    };
    state
        .toolboxes()
        .agents(state.store(), user.id, set)
        .await
        .map_or(true, |agents| agents.contains(&agent_id))
}

/// [`visible_tools_in`] in `tools/list` pages, serialised once per
/// snapshot and visibility class (`None` if a definition does not
/// serialise, or for a toolbox or toolset, which is short and the user's
/// own: list [`visible_tools_in`] instead).
pub async fn visible_pages_in(
    state: &Pipeline,
    snapshot: &Snapshot,
    user: &User,
    scope: &Scope,
) -> Result<Option<Arc<ToolPages>>, StoreError> {
    if scope.set().is_some() {
        return Ok(None);
    }
    let entitled = entitled_in(state, snapshot, user).await?;
    Ok(snapshot.pages_for(entitled.as_ref()))
}

/// The agents `user` has bought, when `snapshot` has priced tools (without
/// them every user sees the same list and nothing is looked up).
async fn entitled_in(
    state: &Pipeline,
    snapshot: &Snapshot,
    user: &User,
) -> Result<Option<std::collections::HashSet<Uuid>>, StoreError> {
    if !snapshot.has_priced() {
        return Ok(None);
    }
    state
        .entitlements()
        .active_agents(state.store(), user.id)
        .await
        .map(Some)
}

/// Run one call to completion. The work runs in its own task so the journal
/// row is always finished, even if the caller's transport goes away.
pub async fn call(state: &Pipeline, request: CallRequest) -> Result<ToolResult, CallError> {
    if state.lifecycle().is_shutting_down() {
        metrics::counter!("vieagent_calls_refused_total", "reason" => "shutting_down").increment(1);
        return Err(CallError::ShuttingDown);
    }
    if let Err(refusal) = state.limits().check_rate(request.user.id) {
        return Err(limited(refusal, &request.tool_name));
    }
    if let Some(outcome) = discovery::run(state, &request).await {
        return outcome;
    }
    let state = state.clone();
    let tracker = state.lifecycle().call_tracker().clone();
    let handle = tracker.spawn(async move { stages::run(&state, request, None).await });
    joined(handle.await)
}

fn joined(
    outcome: Result<Result<ToolResult, CallError>, tokio::task::JoinError>,
) -> Result<ToolResult, CallError> {
    outcome.unwrap_or_else(|e| {
        tracing::error!(error = %e, "call task failed");
        Err(CallError::JournalUnavailable("the call task failed".into()))
    })
}

/// How [`start`] left a call.
#[derive(Debug)]
pub enum Started {
    /// Its row is durable and it runs on, detached from the request: its
    /// outcome will be in its row (and in [`Running::outcome`] here).
    Detached(Uuid, Running),
    /// It ended before it reached the engine (refused, no credits, …).
    Finished(ToolResult),
}

/// Start a call and answer as soon as its row is durable; the call runs on
/// in the background, to its end, like any other (its `request.cancel`
/// should belong to no connection). Cancel it with [`cancel`].
pub async fn start(state: &Pipeline, request: CallRequest) -> Result<Started, CallError> {
    if state.lifecycle().is_shutting_down() {
        metrics::counter!("vieagent_calls_refused_total", "reason" => "shutting_down").increment(1);
        return Err(CallError::ShuttingDown);
    }
    if let Err(refusal) = state.limits().check_rate(request.user.id) {
        return Err(limited(refusal, &request.tool_name));
    }
    if let Some(outcome) = discovery::run(state, &request).await {
        return outcome.map(Started::Finished);
    }
    let (durable, durable_rx) = tokio::sync::oneshot::channel();
    let runner = state.clone();
    let tracker = state.lifecycle().call_tracker().clone();
    let handle = tracker.spawn(async move { stages::run(&runner, request, Some(durable)).await });
    match durable_rx.await {
        Ok(id) => Ok(Started::Detached(id, Running(handle))),
        Err(_) => joined(handle.await).map(Started::Finished),
    }
}

/// A detached call in this process; dropping it changes nothing.
#[derive(Debug)]
pub struct Running(tokio::task::JoinHandle<Result<ToolResult, CallError>>);

impl Running {
    /// The call's result, whenever it ends.
    pub async fn outcome(self) -> Result<ToolResult, CallError> {
        joined(self.0.await)
    }

    /// The call's result if it ends within `budget`; otherwise the call
    /// runs on and `Err` gives the handle back.
    pub async fn within(mut self, budget: Duration) -> Result<Result<ToolResult, CallError>, Self> {
        match tokio::time::timeout(budget, &mut self.0).await {
            Ok(outcome) => Ok(joined(outcome)),
            Err(_) => Err(self),
        }
    }
}

/// What [`cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// The call was asked to stop (it ends `failed`, "cancelled", soon).
    Requested,
    /// The call had ended already, as this.
    Finished(ExecutionStatus),
}

/// Ask one of `user`'s calls to stop, whichever replica runs it. `None`:
/// no such call of theirs.
pub async fn cancel(
    state: &Pipeline,
    user: &User,
    execution_id: Uuid,
    requested_by: &str,
) -> Result<Option<Cancel>, StoreError> {
    let Some(row) = state
        .store()
        .get_execution_log(execution_id)
        .await?
        .filter(|row| row.user_id == user.id)
    else {
        return Ok(None);
    };
    if matches!(
        row.status,
        ExecutionStatus::Success | ExecutionStatus::Failed
    ) {
        return Ok(Some(Cancel::Finished(row.status)));
    }
    state
        .store()
        .request_cancel(execution_id, requested_by)
        .await?;
    state.inflight().cancel(execution_id);
    Ok(Some(Cancel::Requested))
}

fn limited(refusal: Refusal, tool: &str) -> CallError {
    metrics::counter!("vieagent_calls_refused_total", "reason" => refusal.kind()).increment(1);
    tracing::info!(reason = refusal.kind(), tool, "call refused by a limit");
    CallError::Limited {
        message: refusal.message(tool),
        refusal,
    }
}
