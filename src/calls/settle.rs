//! Settling a call in the journal: the durable `running` row with its
//! credits reserved before the engine is called ([`start`]), the one
//! `failed` row of a call refused before that ([`reject`]), and the finished
//! row with its credits settled after ([`finish`], [`failed`]) — retried, and
//! settled in the background while the database is down.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tracing::Instrument;
use uuid::Uuid;

use crate::engines::EngineOutput;
use crate::scrub::Scrubber;
use crate::store::{
    Agent, CreditAccount, ExecutionOutcome, ExecutionStatus, JournalResult, Role, User,
};

use super::admit::Rejection;
use super::invoke::Ran;
use super::journal::Journal;
use super::pipeline::{Call, Pipeline};
use super::{CallError, ToolResult};

pub(super) enum Started {
    /// Credits reserved and the row durable: the engine may be called.
    Running,
    /// Not enough credits: the row was recorded `failed`.
    NoCredits(ToolResult),
}

/// Reserve the call's credits and commit its `running` row, before the
/// engine is called.
pub(super) async fn start(
    p: &Pipeline,
    call: &Call<'_>,
    input_snapshot: Value,
) -> Result<Started, CallError> {
    let (agent, user) = (call.agent(), call.user());
    match p
        .journal()
        .start_call(call.row(input_snapshot), agent.credits_per_call)
        .await
    {
        Ok(JournalResult::InsufficientCredits { available }) => {
            let account = p.store().credit_account(user.id).await.ok();
            let top_up = p.config().marketplace.credits_page(None);
            let message =
                insufficient_credits_message(agent, user, available, account, top_up.as_ref());
            tracing::info!(
                kind = "insufficient_credits",
                "call refused before the engine"
            );
            Ok(Started::NoCredits(error_result(
                Some(call.id),
                "insufficient_credits",
                message,
                json!({
                    "top_up_url": top_up.as_ref().map(url::Url::as_str),
                    "credits_per_call": agent.credits_per_call,
                    "available": available,
                    "balance": account.map(|a| a.balance),
                }),
            )))
        }
        Ok(_) => Ok(Started::Running),
        Err(e) => {
            tracing::error!(error = %e, "journal write failed; not calling the engine");
            // The write may have committed with only its answer lost (the
            // connection dropped): make sure such a row does not stay
            // `running` with its credits held. Finishing a row that does not
            // exist changes nothing.
            settle_later(
                p.journal().clone(),
                call.id,
                user.id,
                call.failed("journal unavailable: the call was not run".into(), 0),
            );
            Err(CallError::journal(&e))
        }
    }
}

/// A call refused before the engine: one row, already `failed`.
pub(super) async fn reject(
    journal: &Journal,
    call: &Call<'_>,
    rejection: Rejection,
) -> Result<ToolResult, CallError> {
    let Rejection {
        kind,
        message,
        details,
        journaled,
    } = rejection;
    let outcome = call.failed(journaled.unwrap_or_else(|| message.clone()), 0);
    if let Err(e) = journal
        .record(call.row(call.plain_snapshot()), outcome)
        .await
    {
        tracing::error!(error = %e, "journal write failed");
        return Err(CallError::journal(&e));
    }
    tracing::info!(kind, "call refused before the engine");
    Ok(error_result(Some(call.id), kind, message, *details))
}

/// What the engine answered, scrubbed of the user's credentials, as the
/// finished row and the tool result.
pub(super) async fn finish(
    journal: &Journal,
    call: &Call<'_>,
    scrubber: &Scrubber,
    ran: Ran,
    engine_time: Duration,
) -> Result<ToolResult, CallError> {
    let agent = call.agent();
    let engine_ms = engine_time.as_millis() as u64;
    match ran {
        Ran::Shutdown => {
            tracing::warn!("call stopped: the gateway is shutting down");
            let message = format!(
                "Tool '{}' was stopped because the gateway is shutting down (shutdown); \
                 nothing was charged. Please call it again.",
                agent.tool_name
            );
            failed(journal, call, "shutdown", message, 0).await
        }
        Ran::Cancelled => {
            tracing::info!("call cancelled by the client");
            failed(journal, call, "cancelled", super::CANCELLED.into(), 0).await
        }
        Ran::Failed(e) => {
            let message = format!(
                "Tool '{}' failed: {}",
                agent.tool_name,
                scrubber.text(&e.to_string())
            );
            tracing::warn!(kind = e.kind(), error = %message, engine_ms, "engine call failed");
            let charge = if agent.charge_failed_calls {
                agent.credits_per_call
            } else {
                0
            };
            failed(journal, call, e.kind(), message, charge).await
        }
        Ran::Output(output) => Ok(succeeded(journal, call, scrubber, output, engine_ms).await),
    }
}

/// The engine's answer, scrubbed: the row finished `success` and charged.
async fn succeeded(
    journal: &Journal,
    call: &Call<'_>,
    scrubber: &Scrubber,
    mut output: EngineOutput,
    engine_ms: u64,
) -> ToolResult {
    scrubber.value(&mut output.result);
    let text = scrubber.text(&output.text).into_owned();
    let external = output
        .external_execution_id
        .as_deref()
        .map(|id| scrubber.text(id).into_owned());
    let structured = as_object(output.result);
    let credits = call.agent().credits_per_call;
    let outcome = ExecutionOutcome {
        status: ExecutionStatus::Success,
        external_execution_id: external,
        output_snapshot: Some(structured.clone()),
        duration_ms: Some(call.elapsed_ms()),
        credits_consumed: credits,
        error: None,
    };
    write_outcome(journal, call.id, call.user().id, &outcome).await;
    tracing::info!(engine_ms, total_ms = call.elapsed_ms(), "call succeeded");
    ToolResult {
        execution_id: Some(call.id),
        status: ExecutionStatus::Success,
        is_error: false,
        text,
        structured,
        credits_consumed: credits,
        error_kind: None,
    }
}

/// Finish a running row as `failed`, charging `charge`.
pub(super) async fn failed(
    journal: &Journal,
    call: &Call<'_>,
    kind: &str,
    message: String,
    charge: i32,
) -> Result<ToolResult, CallError> {
    let outcome = call.failed(message.clone(), charge);
    write_outcome(journal, call.id, call.user().id, &outcome).await;
    let mut result = error_result(Some(call.id), kind, message, json!({}));
    result.credits_consumed = charge;
    Ok(result)
}

fn insufficient_credits_message(
    agent: &Agent,
    user: &User,
    available: i64,
    account: Option<CreditAccount>,
    top_up: Option<&url::Url>,
) -> String {
    let held = match account {
        Some(a) if a.reserved > 0 => format!(
            " (balance {}, {} held by your calls in progress)",
            a.balance, a.reserved
        ),
        _ => String::new(),
    };
    // Where to get credits: the marketplace for a buyer, the command only
    // for an admin.
    let how = if user.role == Role::Admin {
        format!(
            "As an admin: vieagent credits grant --user {} --amount N --reason \"...\"",
            user.email
        )
    } else {
        match top_up {
            Some(url) => format!("Top up your credits at {url}, then call the tool again."),
            None => "Top up your credits on the marketplace, then call the tool again.".into(),
        }
    };
    format!(
        "Not enough credits for tool '{}': it costs {} credits per call and you have {available} \
         available{held}. {how}",
        agent.tool_name, agent.credits_per_call
    )
}

fn as_object(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        Value::Null => Value::Object(Map::new()),
        other => json!({ "result": other }),
    }
}

pub(super) fn error_result(
    execution_id: Option<Uuid>,
    kind: &str,
    message: String,
    details: Value,
) -> ToolResult {
    let mut structured = json!({"error": {"kind": kind, "message": message}});
    if let (Value::Object(target), Value::Object(extra)) = (&mut structured["error"], details) {
        target.extend(extra);
    }
    ToolResult {
        execution_id,
        status: ExecutionStatus::Failed,
        is_error: true,
        text: message,
        structured,
        credits_consumed: 0,
        error_kind: Some(kind.to_string()),
    }
}

/// Finish the row, retrying briefly: after the engine ran, the outcome must
/// not be lost to a transient database error. If it still fails the row stays
/// `running` and startup/periodic recovery marks it failed.
async fn write_outcome(
    journal: &Journal,
    execution_id: Uuid,
    user_id: Uuid,
    outcome: &ExecutionOutcome,
) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=3 {
        match journal.finish(execution_id, user_id, outcome.clone()).await {
            Ok(JournalResult::Unchanged) => {
                tracing::warn!("execution row was already finished");
                return;
            }
            Ok(_) => return,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, attempt, "finishing the execution row failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not finish the execution row yet; it will be written when the database is back");
            }
        }
    }
    settle_later(journal.clone(), execution_id, user_id, outcome.clone());
}

/// Keep trying to finish a row in the background (the database is down):
/// the client has its answer, and the row and the user's credits settle
/// as soon as the database answers again. If this process dies first, its
/// rows are recovered as those of a dead replica.
fn settle_later(journal: Journal, execution_id: Uuid, user_id: Uuid, outcome: ExecutionOutcome) {
    metrics::gauge!("vieagent_journal_unsettled_calls").increment(1.0);
    tokio::spawn(
        async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match journal.finish(execution_id, user_id, outcome.clone()).await {
                    Ok(result) => {
                        tracing::info!(?result, "execution row settled after a journal outage");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "journal still unavailable");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            }
            metrics::gauge!("vieagent_journal_unsettled_calls").decrement(1.0);
        }
        .instrument(tracing::info_span!("settle", %execution_id)),
    );
}
