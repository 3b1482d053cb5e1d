//! One call through the stages, in order: admit → slot → start (credits
//! reserved, row durable) → invoke → settle; then its metrics.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::Instrument;
use uuid::Uuid;

use super::admit::{self, Admission};
use super::invoke::{self, Invoked};
use super::pipeline::{Call, Pipeline};
use super::settle::{self, Started};
use super::{CallError, CallRequest, ToolResult, limited};

/// One call, start to finish: look the tool up, run the stages in the
/// call's span, record the metrics of what came out.
/// `durable` hears the call's id once its row is durable (a call that ends
/// before that drops it unheard).
pub(super) async fn run(
    p: &Pipeline,
    request: CallRequest,
    durable: Option<oneshot::Sender<Uuid>>,
) -> Result<ToolResult, CallError> {
    let started = Instant::now();
    let entry = p
        .catalog()
        .snapshot()
        .get(&request.tool_name)
        .cloned()
        .ok_or_else(|| CallError::UnknownTool(request.tool_name.clone()))?;
    in_scope(p, &request, entry.agent.id).await?;
    if !request.arguments.is_object() {
        return Err(CallError::ArgumentsNotObject);
    }
    let call = Call {
        // UUIDv7: time-ordered, so a new row lands at the end of the
        // primary-key index instead of on a random page of it (fewer pages
        // written per journal commit, and fewer read as the table grows).
        id: Uuid::now_v7(),
        entry: &entry,
        request: &request,
        started,
    };
    let (result, engine_time) = stages(p, &call, durable).instrument(call.span()).await;
    if let Ok(r) = &result {
        observe(&call, engine_time, r);
    }
    result
}

/// A scoped request calls only the agents its toolbox or toolset holds.
async fn in_scope(p: &Pipeline, request: &CallRequest, agent: Uuid) -> Result<(), CallError> {
    let Some(set) = request.scope.set() else {
        return Ok(());
    };
    let chosen = p
        .toolboxes()
        .agents(p.store(), request.user.id, set)
        .await
        .map_err(|e| CallError::journal(&e))?;
    if chosen.contains(&agent) {
        return Ok(());
    }
    Err(CallError::NotInScope {
        tool: request.tool_name.clone(),
        scope: request.scope.clone(),
    })
}

/// admit → slot → start (credits reserved, row durable) → invoke → settle.
/// The engine time is there when the engine was called.
async fn stages(
    p: &Pipeline,
    call: &Call<'_>,
    durable: Option<oneshot::Sender<Uuid>>,
) -> (Result<ToolResult, CallError>, Option<Duration>) {
    let admitted = match admit::admit(p, call).await {
        Ok(Admission::Admitted(admitted)) => admitted,
        Ok(Admission::Refused(rejection)) => {
            return (settle::reject(p.journal(), call, rejection).await, None);
        }
        Err(e) => return (Err(e), None),
    };
    // A slot for this agent and for an engine call (waiting, bounded).
    let permits = match p.limits().acquire(call.agent().id).await {
        Ok(permits) => permits,
        Err(refusal) => return (Err(limited(refusal, &call.agent().tool_name)), None),
    };
    match settle::start(p, call, admitted.input_snapshot).await {
        Ok(Started::Running) => {}
        Ok(Started::NoCredits(result)) => return (Ok(result), None),
        Err(e) => return (Err(e), None),
    }
    // From here the call is cancellable from any replica, until it ends.
    p.inflight().register(call.id, call.request.cancel.clone());
    if let Some(durable) = durable {
        let _ = durable.send(call.id);
    }
    call.progress(1.0, &format!("started (execution {})", call.id))
        .await;
    let invoked = invoke::invoke(p, call, admitted.credentials, permits).await;
    let settled = settle_invoked(p, call, &admitted.scrubber, invoked).await;
    p.inflight().unregister(call.id);
    settled
}

/// The row finished as the engine call ended.
async fn settle_invoked(
    p: &Pipeline,
    call: &Call<'_>,
    scrubber: &crate::scrub::Scrubber,
    invoked: Invoked,
) -> (Result<ToolResult, CallError>, Option<Duration>) {
    match invoked {
        Invoked::Unconfigured(message) => {
            let result =
                settle::failed(p.journal(), call, "engine_not_configured", message, 0).await;
            (result, None)
        }
        Invoked::Unrecorded(message) => {
            let result = settle::failed(p.journal(), call, "journal_unavailable", message, 0).await;
            (result, None)
        }
        Invoked::Ran {
            outcome,
            engine_time,
        } => {
            let result = settle::finish(p.journal(), call, scrubber, outcome, engine_time).await;
            call.progress(3.0, "done").await;
            (result, Some(engine_time))
        }
    }
}

/// The metrics of a call that produced a result.
fn observe(call: &Call<'_>, engine_time: Option<Duration>, result: &ToolResult) {
    let agent = call.agent();
    let total = call.started.elapsed();
    let engine = agent.engine_type.as_str();
    let outcome = result
        .error_kind
        .clone()
        .unwrap_or_else(|| "success".into());
    metrics::counter!("vieagent_tool_calls_total", "tool" => agent.tool_name.clone(), "engine" => engine, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("vieagent_call_duration_seconds", "transport" => call.request.transport)
        .record(total.as_secs_f64());
    if let Some(engine_time) = engine_time {
        metrics::histogram!("vieagent_engine_duration_seconds", "engine" => engine)
            .record(engine_time.as_secs_f64());
        metrics::histogram!("vieagent_gateway_overhead_seconds")
            .record(total.saturating_sub(engine_time).as_secs_f64());
    }
    if result.credits_consumed > 0 {
        metrics::counter!("vieagent_credits_consumed_total", "tool" => agent.tool_name.clone())
            .increment(u64::try_from(result.credits_consumed).unwrap_or(0));
    }
}
