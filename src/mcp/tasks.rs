//! The Tasks extension (`io.modelcontextprotocol/tasks`, protocol
//! 2026-07-28, SEP-2663) backed by the Shadow Journal: a task is a call's
//! `execution_logs` row, its id the row's id. A call becomes a task only
//! once its row is durable; `tasks/get` reads the row (any replica, after a
//! restart too), `tasks/cancel` asks whichever replica runs the call to stop.
//!
//! Not served, because rmcp 3.11 cannot: `notifications/tasks` over
//! `subscriptions/listen` (its subscription sink refuses the notification
//! and `SubscriptionFilter` has no task ids: clients poll `tasks/get`), and
//! the 2025-11-25 experimental tasks (`params.task`, `tasks/result`,
//! `tasks/list`; removed from rmcp in 3.0, the handler never sees them).

use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskResult, JsonObject, Task, TaskPayload, TaskStatus,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::calls::{self, CallError, CallRequest};
use crate::state::AppState;
use crate::store::{ExecutionLog, ExecutionStatus, TaskMode, User};

/// How often clients are asked to poll a working task.
const POLL_INTERVAL_MS: u64 = 1000;

/// How a call to an agent of `mode` runs for a client that did (or did not)
/// declare the extension.
pub(super) enum Plan {
    Inline,
    Task {
        wait_inline: bool,
    },
    /// The agent runs only as a task and the client cannot take one.
    Refuse,
}

pub(super) fn plan(mode: TaskMode, client: Option<&ClientCapabilities>) -> Plan {
    let declared = client.is_some_and(ClientCapabilities::supports_tasks);
    match (mode, declared) {
        (TaskMode::Never, _) | (TaskMode::Auto, false) => Plan::Inline,
        (TaskMode::Always, false) => Plan::Refuse,
        (TaskMode::Auto, true) => Plan::Task { wait_inline: true },
        (TaskMode::Always, true) => Plan::Task { wait_inline: false },
    }
}

/// `-32021`: this tool needs the Tasks extension.
pub(super) fn extension_required() -> McpError {
    McpError::missing_required_client_capability(
        ClientCapabilities::builder().enable_tasks().build(),
    )
}

/// Start the call; answer inline if it ends before it is a task (or, for
/// `auto`, within the inline budget), else as a task.
pub(super) async fn call_as_task(
    state: &AppState,
    request: CallRequest,
    wait_inline: bool,
) -> Result<Result<CallToolResult, CallError>, CallToolResponse> {
    let budget = state.config().mcp.task_inline_budget;
    let (id, running) = match calls::start(state.calls(), request).await {
        Ok(calls::Started::Finished(result)) => return Ok(Ok(super::handler::tool_result(result))),
        Ok(calls::Started::Detached(id, running)) => (id, running),
        Err(e) => return Ok(Err(e)),
    };
    let running = if wait_inline {
        match running.within(budget).await {
            Ok(Ok(result)) => return Ok(Ok(super::handler::tool_result(result))),
            Ok(Err(e)) => return Ok(Err(e)),
            Err(still_running) => still_running,
        }
    } else {
        running
    };
    keep_result(state, id, running);
    // The row's own time, as tasks/get will tell it (not when the inline
    // budget ran out).
    let created = match state.store().get_execution_log(id).await {
        Ok(Some(row)) => row.created_at,
        Ok(None) | Err(_) => chrono::Utc::now(),
    };
    let created = stamp(created);
    let task = Task::new(
        id.to_string(),
        TaskStatus::Working,
        created.clone(),
        created,
    )
    .with_ttl_ms(ttl_ms(state))
    .with_poll_interval_ms(POLL_INTERVAL_MS);
    Err(CallToolResponse::Task(CreateTaskResult::new(task)))
}

/// When the call ends, keep its tool result for `tasks/get` (exactly what
/// it would have answered inline). Should this process die first, the row
/// is recovered as "gateway restarted", and a result lost in between is
/// rebuilt from the row ([`payload`]).
fn keep_result(state: &AppState, id: Uuid, running: calls::Running) {
    let store = state.store_arc().clone();
    state.calls().lifecycle().call_tracker().spawn(async move {
        let Ok(result) = running.outcome().await else {
            return;
        };
        let value = match serde_json::to_value(super::handler::tool_result(result)) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a task's result");
                return;
            }
        };
        if let Err(e) = store.put_task_result(id, &value).await {
            tracing::warn!(error = %e, execution_id = %id, "could not keep a task's result; tasks/get rebuilds it from the row");
        }
    });
}

/// A task's kept result is written just after its row ends: this long, a
/// task without one is still finishing.
const RESULT_GRACE: chrono::Duration = chrono::Duration::seconds(10);

/// The user's task `task_id`, while its TTL lasts; "unknown task" otherwise
/// (someone else's task is as unknown as one that never was).
async fn own_row(state: &AppState, user: &User, task_id: &str) -> Result<ExecutionLog, McpError> {
    let unknown = || {
        McpError::invalid_params(
            format!(
                "unknown task '{}'",
                task_id.chars().take(64).collect::<String>()
            ),
            None,
        )
    };
    let id = Uuid::parse_str(task_id).map_err(|_| unknown())?;
    let row = state
        .store()
        .get_execution_log(id)
        .await
        .map_err(store_unavailable)?
        .filter(|row| row.user_id == user.id)
        .ok_or_else(unknown)?;
    let ttl =
        chrono::Duration::from_std(state.config().mcp.task_ttl).unwrap_or(chrono::Duration::MAX);
    if chrono::Utc::now() - row.created_at > ttl {
        return Err(unknown());
    }
    Ok(row)
}

/// `tasks/get`: the row as a task, with the tool result once it ended.
pub(super) async fn get(
    state: &AppState,
    user: &User,
    task_id: &str,
) -> Result<GetTaskResult, McpError> {
    let row = own_row(state, user, task_id).await?;
    let kept = match row.status {
        ExecutionStatus::Success | ExecutionStatus::Failed => state
            .store()
            .task_result(row.id)
            .await
            .map_err(store_unavailable)?,
        _ => None,
    };
    let payload = payload(&row, kept);
    let mut task = Task::new(
        row.id.to_string(),
        payload.status(),
        stamp(row.created_at),
        stamp(row.finished_at.unwrap_or(row.created_at)),
    )
    .with_ttl_ms(ttl_ms(state));
    if payload.status() == TaskStatus::Working {
        task = task.with_poll_interval_ms(POLL_INTERVAL_MS);
    }
    if let (TaskStatus::Failed | TaskStatus::Cancelled, Some(error)) =
        (payload.status(), &row.error)
    {
        task = task.with_status_message(error.clone());
    }
    Ok(GetTaskResult::new(DetailedTask::new(task, payload)))
}

/// What a row says of its call, as a task payload: running → working; a
/// cancelled call → cancelled; an ended call → completed with the tool
/// result it answered (kept when it ended; a failed tool is a result with
/// `isError`, as inline); a call whose gateway died → failed. Without a
/// kept result (its process died just after the row ended) the result is
/// rebuilt from the row.
fn payload(row: &ExecutionLog, kept: Option<Value>) -> TaskPayload {
    let finishing = row
        .finished_at
        .is_some_and(|at| chrono::Utc::now() - at < RESULT_GRACE);
    match row.status {
        ExecutionStatus::Pending | ExecutionStatus::Running => TaskPayload::Working,
        ExecutionStatus::Failed if row.error.as_deref() == Some(calls::CANCELLED) => {
            TaskPayload::Cancelled
        }
        _ if kept.is_some() => TaskPayload::Completed {
            result: kept.map(object).unwrap_or_default(),
        },
        ExecutionStatus::Success | ExecutionStatus::Failed
            if finishing && row.error.as_deref() != Some(calls::GATEWAY_RESTARTED) =>
        {
            TaskPayload::Working
        }
        ExecutionStatus::Failed if row.error.as_deref() == Some(calls::GATEWAY_RESTARTED) => {
            TaskPayload::Failed {
                error: object(json!({
                    "code": -32603,
                    "message": "gateway restarted: the gateway process running this call stopped before it ended; nothing was charged. Call the tool again.",
                })),
            }
        }
        ExecutionStatus::Failed => {
            let message = row.error.clone().unwrap_or_default();
            let mut result = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
            result.structured_content = Some(json!({"error": {"message": message}}));
            TaskPayload::Completed {
                result: object(with_meta(result, row)),
            }
        }
        ExecutionStatus::Success => {
            let output = row.output_snapshot.clone().unwrap_or_else(|| json!({}));
            let text = match output.get("text") {
                Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
                _ => crate::engines::render_text(output.get("json").unwrap_or(&output)),
            };
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(output);
            TaskPayload::Completed {
                result: object(with_meta(result, row)),
            }
        }
    }
}

fn with_meta(mut result: CallToolResult, row: &ExecutionLog) -> Value {
    let mut meta = rmcp::model::MetaObject::new();
    meta.0.insert(
        "io.vieagent/execution_id".into(),
        Value::String(row.id.to_string()),
    );
    meta.0.insert(
        "io.vieagent/credits_consumed".into(),
        json!(row.credits_consumed),
    );
    result.meta = Some(meta);
    serde_json::to_value(result).unwrap_or_else(|_| json!({}))
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// `tasks/cancel`: ask whichever replica runs the call to stop. A task that
/// has ended cannot be cancelled (`-32602`, naming how it ended).
pub(super) async fn cancel(
    state: &AppState,
    user: &Arc<User>,
    task_id: &str,
) -> Result<(), McpError> {
    let row = own_row(state, user, task_id).await?;
    match calls::cancel(state.calls(), user, row.id, &format!("mcp:{}", user.email)).await {
        Ok(Some(calls::Cancel::Requested)) => Ok(()),
        Ok(Some(calls::Cancel::Finished(status))) => Err(McpError::invalid_params(
            format!("task '{task_id}' has ended ({status}); there is nothing to cancel"),
            None,
        )),
        Ok(None) => Err(McpError::invalid_params(
            format!("unknown task '{task_id}'"),
            None,
        )),
        Err(e) => Err(store_unavailable(e)),
    }
}

/// The journal could not be read: an opaque error, the details in the log.
fn store_unavailable(e: crate::store::StoreError) -> McpError {
    tracing::error!(error = %e, "tasks: the journal is unavailable");
    McpError::internal_error("the task store is unavailable; try again shortly", None)
}

/// A task's `ttlMs`.
fn ttl_ms(state: &AppState) -> u64 {
    u64::try_from(state.config().mcp.task_ttl.as_millis()).unwrap_or(u64::MAX)
}

/// Task timestamps: ISO 8601, milliseconds, UTC.
fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
