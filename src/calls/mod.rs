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

pub mod journal;
mod pipeline;
pub mod redact;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::billing::{self, Access};
use crate::engines::InvokeOptions;
use crate::limits::Refusal;
use crate::scrub::Scrubber;
use crate::store::{
    Agent, ExecutionOutcome, ExecutionStatus, JournalResult, NewExecutionLog, StoreError, User,
};
use crate::vault::{ResolveError, VaultError};
use journal::Journal;

pub use pipeline::Pipeline;
pub use validate::validation_errors;

/// Progress reporting back to the caller's transport (MCP progress
/// notifications). Steps: 1 started, 2 waiting on engine, 3 done.
#[async_trait]
pub trait Progress: Send + Sync {
    async fn report(&self, step: u32, total: u32, message: &str);
}

pub const PROGRESS_STEPS: u32 = 3;

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

/// Failures that are not tool results.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("unknown tool '{0}'")]
    UnknownTool(String),
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

/// The tools `user` sees (`tools/list`, `GET /v1/tools`): the published
/// catalog, with priced tools the user has not bought marked or hidden
/// (`catalog.show_unpurchased`).
pub async fn visible_tools(
    state: &Pipeline,
    user: &User,
) -> Result<Arc<Vec<rmcp::model::Tool>>, StoreError> {
    let snapshot = state.catalog().snapshot();
    if !snapshot.has_priced() {
        return Ok(snapshot.tools());
    }
    let entitled = state
        .entitlements()
        .active_agents(state.store(), user.id)
        .await?;
    let config = state.config();
    Ok(snapshot.tools_for(
        &entitled,
        config.catalog.show_unpurchased,
        &config.billing.currency,
    ))
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
    let state = state.clone();
    let tracker = state.lifecycle().call_tracker().clone();
    let handle = tracker.spawn(async move { run(&state, request).await });
    match handle.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "call task failed");
            Err(CallError::JournalUnavailable("the call task failed".into()))
        }
    }
}

async fn run(state: &Pipeline, request: CallRequest) -> Result<ToolResult, CallError> {
    let started = Instant::now();
    let snapshot = state.catalog().snapshot();
    let entry = snapshot
        .get(&request.tool_name)
        .cloned()
        .ok_or_else(|| CallError::UnknownTool(request.tool_name.clone()))?;
    if !request.arguments.is_object() {
        return Err(CallError::ArgumentsNotObject);
    }
    let execution_id = Uuid::new_v4();
    let transport = request.transport;
    // Engine time, set once the engine answered (0: it was never called).
    let engine_nanos = AtomicU64::new(0);
    let engine_nanos = &engine_nanos;
    let span = tracing::info_span!(
        "call",
        %execution_id,
        tool = %entry.agent.tool_name,
        agent_id = %entry.agent.id,
        user_id = %request.user.id,
        transport = request.transport,
        engine = %entry.agent.engine_type,
    );
    let measured = entry.clone();
    let result = async move {
        let agent = &entry.agent;
        let store = state.journal();
        let new_row = |input_snapshot: Value| NewExecutionLog {
            id: execution_id,
            user_id: request.user.id,
            agent_id: agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: Some(input_snapshot),
        };

        // Arguments against the tool's schema.
        let errors = validation_errors(&entry.validator, &request.arguments);
        if !errors.is_empty() {
            let snapshot_in = redact::input_snapshot(&request.arguments, &Scrubber::default());
            let message = format!(
                "Invalid arguments for tool '{}':\n{}",
                agent.tool_name,
                errors.iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n")
            );
            return reject(store, new_row(snapshot_in), "invalid_arguments", message, json!({"errors": errors}), started).await;
        }

        // Account enabled; a priced agent needs an active entitlement.
        match check_access(state, agent, &request.user).await {
            Ok(()) => {}
            Err(AccessError::Denied { kind, message, details }) => {
                let snapshot_in = redact::input_snapshot(&request.arguments, &Scrubber::default());
                return reject(store, new_row(snapshot_in), kind, message, details, started).await;
            }
            Err(AccessError::Store(e)) => return Err(CallError::JournalUnavailable(journal_reason(&e))),
        }

        // The user's credentials, decrypted for this call only.
        let credentials = match state
            .vault()
            .resolve(request.user.id, &agent.required_credential_types)
            .await
        {
            Ok(c) => c,
            Err(ResolveError::Vault(VaultError::MissingCredentials { providers })) => {
                let snapshot_in = redact::input_snapshot(&request.arguments, &Scrubber::default());
                let message = missing_credentials_message(agent, &request.user, &providers);
                return reject(
                    store,
                    new_row(snapshot_in),
                    "missing_credentials",
                    message,
                    json!({"missing_credentials": providers}),
                    started,
                )
                .await;
            }
            Err(ResolveError::Vault(VaultError::Undecryptable { provider, .. })) => {
                let snapshot_in = redact::input_snapshot(&request.arguments, &Scrubber::default());
                let message = format!(
                    "Your stored {provider} credential cannot be decrypted; set it again \
                     (vieagent credentials set --user {} --provider {provider}).",
                    request.user.email
                );
                return reject(store, new_row(snapshot_in), "credential_unreadable", message, json!({"provider": provider}), started).await;
            }
            Err(ResolveError::Store(e)) => return Err(CallError::JournalUnavailable(e.to_string())),
        };
        let scrubber = Scrubber::new(credentials.iter().map(|c| c.value.expose_secret()));
        let input_snapshot = redact::input_snapshot(&request.arguments, &scrubber);

        // A slot for this agent and for an engine call (waiting, bounded).
        let permits = state
            .limits()
            .acquire(agent.id)
            .await
            .map_err(|refusal| limited(refusal, &agent.tool_name))?;

        // Credits reserved and the row durable before the engine is called.
        match store.start_call(new_row(input_snapshot), agent.credits_per_call).await {
            Ok(JournalResult::InsufficientCredits { available }) => {
                let account = state.store().credit_account(request.user.id).await.ok();
                let message = insufficient_credits_message(agent, &request.user, available, account);
                tracing::info!(kind = "insufficient_credits", "call refused before the engine");
                return Ok(error_result(
                    Some(execution_id),
                    "insufficient_credits",
                    message,
                    json!({
                        "credits_per_call": agent.credits_per_call,
                        "available": available,
                        "balance": account.map(|a| a.balance),
                    }),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "journal write failed; not calling the engine");
                // The write may have committed with only its answer lost
                // (the connection dropped): make sure such a row does not
                // stay `running` with its credits held. Finishing a row
                // that does not exist changes nothing.
                settle_later(
                    store.clone(),
                    execution_id,
                    request.user.id,
                    ExecutionOutcome {
                        status: ExecutionStatus::Failed,
                        external_execution_id: None,
                        output_snapshot: None,
                        duration_ms: Some(elapsed_ms(started)),
                        credits_consumed: 0,
                        error: Some("journal unavailable: the call was not run".into()),
                    },
                );
                return Err(CallError::JournalUnavailable(journal_reason(&e)));
            }
        }
        let user_id = request.user.id;
        report(&request, 1, "started").await;

        let engine = match state.engines().for_agent(agent.engine_type, &agent.engine_config) {
            Ok(engine) => engine,
            Err(e) => {
                let message = format!("Tool '{}' is unavailable: {e}.", agent.tool_name);
                return finish_failed(store, (execution_id, user_id), "engine_not_configured", message, started, 0).await;
            }
        };
        let mut options = InvokeOptions::new(&agent.engine_config);
        options.timeout = agent
            .timeout_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        options.session_id = request.session_id.as_deref();
        report(&request, 2, "waiting on engine").await;
        let engine_started = Instant::now();
        let invoked = tokio::select! {
            r = engine.invoke(&agent.engine_flow_id, &request.arguments, &credentials, &options) => Ok(r),
            _ = request.cancel.cancelled() => Err("cancelled"),
            _ = state.lifecycle().hard_stop().cancelled() => Err("shutdown"),
        };
        let engine_time = engine_started.elapsed();
        let engine_ms = engine_time.as_millis();
        drop((credentials, permits));

        let result = match invoked {
            Err("shutdown") => {
                tracing::warn!("call stopped: the gateway is shutting down");
                let message = format!(
                    "Tool '{}' was stopped because the gateway is shutting down (shutdown); \
                     nothing was charged. Please call it again.",
                    agent.tool_name
                );
                finish_failed(store, (execution_id, user_id), "shutdown", message, started, 0).await
            }
            Err(_) => {
                tracing::info!("call cancelled by the client");
                finish_failed(store, (execution_id, user_id), "cancelled", "The call was cancelled.".into(), started, 0).await
            }
            Ok(Err(e)) => {
                let message = format!("Tool '{}' failed: {}", agent.tool_name, scrubber.text(&e.to_string()));
                tracing::warn!(kind = e.kind(), error = %message, engine_ms = engine_ms as u64, "engine call failed");
                let charge = if agent.charge_failed_calls { agent.credits_per_call } else { 0 };
                finish_failed(store, (execution_id, user_id), e.kind(), message, started, charge).await
            }
            Ok(Ok(mut output)) => {
                scrubber.value(&mut output.result);
                let text = scrubber.text(&output.text).into_owned();
                let external = output
                    .external_execution_id
                    .as_deref()
                    .map(|id| scrubber.text(id).into_owned());
                let structured = as_object(output.result);
                let credits = agent.credits_per_call;
                let outcome = ExecutionOutcome {
                    status: ExecutionStatus::Success,
                    external_execution_id: external,
                    output_snapshot: Some(structured.clone()),
                    duration_ms: Some(elapsed_ms(started)),
                    credits_consumed: credits,
                    error: None,
                };
                write_outcome(store, execution_id, user_id, &outcome).await;
                tracing::info!(engine_ms = engine_ms as u64, total_ms = elapsed_ms(started), "call succeeded");
                Ok(ToolResult {
                    execution_id: Some(execution_id),
                    status: ExecutionStatus::Success,
                    is_error: false,
                    text,
                    structured,
                    credits_consumed: credits,
                    error_kind: None,
                })
            }
        };
        report(&request, 3, "done").await;
        engine_nanos.store(
            u64::try_from(engine_time.as_nanos()).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
        result
    }
    .instrument(span)
    .await;
    if let Ok(r) = &result {
        let agent = &measured.agent;
        let total = started.elapsed();
        let engine = agent.engine_type.as_str();
        let outcome = r.error_kind.clone().unwrap_or_else(|| "success".into());
        metrics::counter!("vieagent_tool_calls_total", "tool" => agent.tool_name.clone(), "engine" => engine, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("vieagent_call_duration_seconds", "transport" => transport)
            .record(total.as_secs_f64());
        let nanos = engine_nanos.load(Ordering::Relaxed);
        if nanos > 0 {
            let engine_time = Duration::from_nanos(nanos);
            metrics::histogram!("vieagent_engine_duration_seconds", "engine" => engine)
                .record(engine_time.as_secs_f64());
            metrics::histogram!("vieagent_gateway_overhead_seconds")
                .record(total.saturating_sub(engine_time).as_secs_f64());
        }
        if r.credits_consumed > 0 {
            metrics::counter!("vieagent_credits_consumed_total", "tool" => agent.tool_name.clone())
                .increment(u64::try_from(r.credits_consumed).unwrap_or(0));
        }
    }
    result
}

fn limited(refusal: Refusal, tool: &str) -> CallError {
    metrics::counter!("vieagent_calls_refused_total", "reason" => refusal.kind()).increment(1);
    tracing::info!(reason = refusal.kind(), tool, "call refused by a limit");
    CallError::Limited {
        message: refusal.message(tool),
        refusal,
    }
}

enum AccessError {
    Denied {
        kind: &'static str,
        message: String,
        details: Value,
    },
    Store(StoreError),
}

/// The account must be enabled; a priced agent needs an active entitlement.
/// (Credits are checked atomically when the journal reserves them.)
async fn check_access(state: &Pipeline, agent: &Agent, user: &User) -> Result<(), AccessError> {
    if user.disabled_at.is_some() {
        return Err(AccessError::Denied {
            kind: "access_denied",
            message: "Your account is disabled; ask your administrator to enable it.".into(),
            details: json!({}),
        });
    }
    if !billing::is_priced(agent) {
        return Ok(());
    }
    let entitlements = state
        .entitlements()
        .for_user(state.store(), user.id)
        .await
        .map_err(AccessError::Store)?;
    let now = chrono::Utc::now();
    let Access::NeedsPurchase { lapsed } = billing::access(agent, &entitlements, now) else {
        return Ok(());
    };
    let currency = &state.config().billing.currency;
    let balance = state
        .store()
        .credit_account(user.id)
        .await
        .map_err(AccessError::Store)?;
    let why = match &lapsed {
        Some(e) => format!("{}.", capitalize(&billing::lapsed_reason(e, now))),
        None => "You have not bought it.".into(),
    };
    let kind = if agent
        .price_one_time
        .is_some_and(|p| p > rust_decimal::Decimal::ZERO)
    {
        "one_time"
    } else {
        "monthly"
    };
    Err(AccessError::Denied {
        kind: "purchase_required",
        message: format!(
            "Tool '{}' ({}) requires a purchase: {}. {why} Your balance: {} credits ({} per call). \
             Ask your administrator to grant access \
             (vieagent entitlements grant --user {} --agent {} --kind {kind}).",
            agent.tool_name,
            agent.name,
            billing::price_text(agent, currency),
            balance.available(),
            agent.credits_per_call,
            user.email,
            agent.tool_name,
        ),
        details: json!({
            "agent": agent.tool_name,
            "price_one_time": agent.price_one_time.map(|p| p.to_string()),
            "price_monthly": agent.price_monthly.map(|p| p.to_string()),
            "currency": currency,
            "balance": balance.balance,
            "available": balance.available(),
            "lapsed_entitlement": lapsed.map(|e| json!({
                "id": e.id,
                "kind": e.kind,
                "expires_at": e.expires_at,
                "revoked_at": e.revoked_at,
            })),
        }),
    })
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn insufficient_credits_message(
    agent: &Agent,
    user: &User,
    available: i64,
    account: Option<crate::store::CreditAccount>,
) -> String {
    let held = match account {
        Some(a) if a.reserved > 0 => format!(
            " (balance {}, {} held by your calls in progress)",
            a.balance, a.reserved
        ),
        _ => String::new(),
    };
    format!(
        "Not enough credits for tool '{}': it costs {} credits per call and you have {available} \
         available{held}. Ask your administrator for credits \
         (vieagent credits grant --user {} --amount N --reason \"...\").",
        agent.tool_name, agent.credits_per_call, user.email
    )
}

fn missing_credentials_message(agent: &Agent, user: &User, providers: &[String]) -> String {
    let first = providers.first().map(String::as_str).unwrap_or("openai");
    format!(
        "Tool '{}' needs your credentials for: {}. They are stored encrypted in the gateway's Vault and \
         used only for your calls. Add them with `vieagent credentials set --user {} --provider {first}` \
         (the key is read from stdin), or ask your administrator to add them \
         (PUT /admin/v1/users/{}/credentials/{first}), then call the tool again.",
        agent.tool_name,
        providers.join(", "),
        user.email,
        user.id
    )
}

fn as_object(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        Value::Null => Value::Object(Map::new()),
        other => json!({ "result": other }),
    }
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

fn journal_reason(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(_) => "the database is unreachable".into(),
        other => other.to_string(),
    }
}

async fn report(request: &CallRequest, step: u32, message: &str) {
    if let Some(progress) = &request.progress {
        progress.report(step, PROGRESS_STEPS, message).await;
    }
}

/// A call refused before the engine: one row, already `failed`.
async fn reject(
    store: &Journal,
    row: NewExecutionLog,
    kind: &str,
    message: String,
    details: Value,
    started: Instant,
) -> Result<ToolResult, CallError> {
    let outcome = ExecutionOutcome {
        status: ExecutionStatus::Failed,
        external_execution_id: None,
        output_snapshot: None,
        duration_ms: Some(elapsed_ms(started)),
        credits_consumed: 0,
        error: Some(message.clone()),
    };
    let id = row.id;
    if let Err(e) = store.record(row, outcome).await {
        tracing::error!(error = %e, "journal write failed");
        return Err(CallError::JournalUnavailable(journal_reason(&e)));
    }
    tracing::info!(kind, "call refused before the engine");
    Ok(error_result(Some(id), kind, message, details))
}

async fn finish_failed(
    store: &Journal,
    (execution_id, user_id): (Uuid, Uuid),
    kind: &str,
    message: String,
    started: Instant,
    charge: i32,
) -> Result<ToolResult, CallError> {
    let outcome = ExecutionOutcome {
        status: ExecutionStatus::Failed,
        external_execution_id: None,
        output_snapshot: None,
        duration_ms: Some(elapsed_ms(started)),
        credits_consumed: charge,
        error: Some(message.clone()),
    };
    write_outcome(store, execution_id, user_id, &outcome).await;
    let mut result = error_result(Some(execution_id), kind, message, json!({}));
    result.credits_consumed = charge;
    Ok(result)
}

fn error_result(
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
    store: &Journal,
    execution_id: Uuid,
    user_id: Uuid,
    outcome: &ExecutionOutcome,
) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=3 {
        match store.finish(execution_id, user_id, outcome.clone()).await {
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
    settle_later(store.clone(), execution_id, user_id, outcome.clone());
}

/// Keep trying to finish a row in the background (the database is down):
/// the client has its answer, and the row and the user's credits settle
/// as soon as the database answers again. If this process dies first, its
/// rows are recovered as those of a dead replica.
fn settle_later(store: Journal, execution_id: Uuid, user_id: Uuid, outcome: ExecutionOutcome) {
    metrics::gauge!("vieagent_journal_unsettled_calls").increment(1.0);
    tokio::spawn(
        async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match store.finish(execution_id, user_id, outcome.clone()).await {
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
