//! The pipeline's own dependencies ([`Pipeline`]: the call pipeline never
//! names the application state, axum or a transport; the composition root
//! builds one and the application state hands it to every transport), and
//! [`run`]: one call through its stages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::{Instrument, Span};
use uuid::Uuid;

use crate::billing::EntitlementCache;
use crate::catalog::{Catalog, CatalogEntry};
use crate::config::Config;
use crate::engines::Engines;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::scrub::Scrubber;
use crate::store::{Agent, Backend, DynStore, ExecutionStatus, NewExecutionLog, Store, User};
use crate::vault::Vault;

use super::admit::{self, Admission};
use super::invoke::{self, Invoked};
use super::journal::Journal;
use super::settle::{self, Started};
use super::{CallError, CallRequest, PROGRESS_STEPS, ToolResult, limited, redact};

/// Everything a call needs: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Deps>,
}

struct Deps {
    store: DynStore,
    journal: Journal,
    vault: Vault,
    engines: Engines,
    catalog: Catalog,
    entitlements: EntitlementCache,
    limits: Limits,
    config: Arc<Config>,
    lifecycle: Lifecycle,
}

impl Pipeline {
    /// Start the journal writers and build the caches the pipeline owns
    /// (catalog, entitlements, limits) around the given infrastructure.
    pub fn new(
        store: DynStore,
        vault: Vault,
        engines: Engines,
        config: Arc<Config>,
        lifecycle: Lifecycle,
    ) -> Self {
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => config.journal_writers as usize,
        };
        Self {
            inner: Arc::new(Deps {
                journal: Journal::start(store.clone(), writers),
                entitlements: EntitlementCache::new(config.auth_cache_ttl),
                limits: Limits::new(&config.limits),
                catalog: Catalog::new(),
                store,
                vault,
                engines,
                config,
                lifecycle,
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn store_arc(&self) -> &DynStore {
        &self.inner.store
    }

    /// The Shadow Journal writer (group-committed `execution_logs` writes).
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn engines(&self) -> &Engines {
        &self.inner.engines
    }

    /// The published agents, as tools.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Users' entitlements, cached like API keys.
    pub fn entitlements(&self) -> &EntitlementCache {
        &self.inner.entitlements
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Shutdown signals and the in-flight call tracker.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }
}

/// One call on its way through the stages: what every stage reads.
pub(super) struct Call<'a> {
    /// The `execution_logs` row's id.
    pub id: Uuid,
    pub entry: &'a CatalogEntry,
    pub request: &'a CallRequest,
    pub started: Instant,
}

impl Call<'_> {
    pub fn agent(&self) -> &Agent {
        &self.entry.agent
    }

    pub fn user(&self) -> &User {
        &self.request.user
    }

    /// The call's row, as the journal first writes it.
    pub fn row(&self, input_snapshot: Value) -> NewExecutionLog {
        NewExecutionLog {
            id: self.id,
            user_id: self.request.user.id,
            agent_id: self.entry.agent.id,
            status: ExecutionStatus::Running,
            input_snapshot: Some(input_snapshot),
        }
    }

    /// The arguments as a snapshot, before any credential is known: only
    /// secret-looking values are redacted.
    pub fn plain_snapshot(&self) -> Value {
        redact::input_snapshot(&self.request.arguments, &Scrubber::default())
    }

    /// Milliseconds since the call began, for the row.
    pub fn elapsed_ms(&self) -> i32 {
        i32::try_from(self.started.elapsed().as_millis()).unwrap_or(i32::MAX)
    }

    /// The span every stage logs in.
    fn span(&self) -> Span {
        let agent = self.agent();
        tracing::info_span!(
            "call",
            execution_id = %self.id,
            tool = %agent.tool_name,
            agent_id = %agent.id,
            user_id = %self.request.user.id,
            transport = self.request.transport,
            engine = %agent.engine_type,
        )
    }

    /// Progress back to the caller's transport, if it asked for it.
    pub async fn progress(&self, step: u32, message: &str) {
        if let Some(progress) = &self.request.progress {
            progress.report(step, PROGRESS_STEPS, message).await;
        }
    }
}

/// One call, start to finish: look the tool up, run the stages in the
/// call's span, record the metrics of what came out.
pub(super) async fn run(p: &Pipeline, request: CallRequest) -> Result<ToolResult, CallError> {
    let started = Instant::now();
    let entry = p
        .catalog()
        .snapshot()
        .get(&request.tool_name)
        .cloned()
        .ok_or_else(|| CallError::UnknownTool(request.tool_name.clone()))?;
    if !request.arguments.is_object() {
        return Err(CallError::ArgumentsNotObject);
    }
    let call = Call {
        id: Uuid::new_v4(),
        entry: &entry,
        request: &request,
        started,
    };
    let (result, engine_time) = stages(p, &call).instrument(call.span()).await;
    if let Ok(r) = &result {
        observe(&call, engine_time, r);
    }
    result
}

/// admit → slot → start (credits reserved, row durable) → invoke → settle.
/// The engine time is there when the engine was called.
async fn stages(
    p: &Pipeline,
    call: &Call<'_>,
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
    call.progress(1, "started").await;
    match invoke::invoke(p, call, admitted.credentials, permits).await {
        Invoked::Unconfigured(message) => {
            let result =
                settle::failed(p.journal(), call, "engine_not_configured", message, 0).await;
            (result, None)
        }
        Invoked::Ran {
            outcome,
            engine_time,
        } => {
            let result =
                settle::finish(p.journal(), call, &admitted.scrubber, outcome, engine_time).await;
            call.progress(3, "done").await;
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
