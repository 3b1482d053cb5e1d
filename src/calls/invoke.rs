//! The engine call: the agent's engine and its request options, the purge
//! step (a call that carries credentials to an engine that keeps them has
//! its purge job made durable first, [`super::purge`]), then a race of the
//! engine against the client's cancellation and the gateway's hard stop.
//! The credentials and the limits' slot are taken by value and dropped the
//! moment the engine has answered. A run the call abandons (cancelled,
//! timed out, stopped by shutdown) is asked to stop at the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engines::{Engine, EngineError, EngineOutput, InvokeOptions, RunRef};
use crate::limits::Permits;
use crate::vault::Credentials;

use super::pipeline::{Call, Pipeline};
use super::purge::{Planned, stop_run};

pub(super) enum Invoked {
    /// The agent's engine is not configured on this gateway: nothing ran.
    Unconfigured(String),
    /// The purge job could not be recorded: nothing ran.
    Unrecorded(String),
    Ran {
        outcome: Ran,
        engine_time: Duration,
    },
}

/// How the engine call ended.
pub(super) enum Ran {
    Output(EngineOutput),
    Failed(EngineError),
    /// The client cancelled or went away.
    Cancelled,
    /// The gateway's shutdown grace period ran out.
    Shutdown,
}

impl Ran {
    /// The engine's run goes on without anyone waiting for it.
    fn abandoned(&self) -> bool {
        matches!(
            self,
            Ran::Cancelled | Ran::Shutdown | Ran::Failed(EngineError::Timeout { .. })
        )
    }
}

/// engine → purge step → run → stop what was abandoned → purge after.
pub(super) async fn invoke(
    p: &Pipeline,
    call: &Call<'_>,
    credentials: Credentials,
    permits: Permits,
) -> Invoked {
    let agent = call.agent();
    let engine = match p
        .engines()
        .for_agent(agent.engine_type, &agent.engine_config)
    {
        Ok(engine) => engine,
        Err(e) => {
            return Invoked::Unconfigured(format!(
                "Tool '{}' is unavailable: {e}.",
                agent.tool_name
            ));
        }
    };
    let options = options(call);
    let planned = match plan_purge(p, call, engine.as_ref(), &options, &credentials).await {
        Ok(planned) => planned,
        Err(refused) => return refused,
    };
    call.progress(2.0, "waiting on engine").await;
    let engine_started = Instant::now();
    let outcome = run(p, call, engine.as_ref(), &credentials, &options).await;
    let engine_time = engine_started.elapsed();
    drop((credentials, permits));
    let stopping = outcome.abandoned();
    if stopping && let Some(run) = RunRef::of(&agent.engine_flow_id, &options) {
        stop_in_background(p, engine, run);
    }
    if let Planned::Purge(target) = planned {
        let output = match &outcome {
            Ran::Output(output) => Some(output),
            _ => None,
        };
        p.purger().after_call(call.id, target, output, stopping);
    }
    Invoked::Ran {
        outcome,
        engine_time,
    }
}

/// The engine request's options: the agent's timeout, the caller's session
/// or else the call's own conversation (so the run can be stopped, and its
/// records found).
fn options<'a>(call: &'a Call<'_>) -> InvokeOptions<'a> {
    let agent = call.agent();
    let mut options = InvokeOptions::new(&agent.engine_config);
    options.timeout = agent
        .timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis);
    options.session_id = call.request.session_id.as_deref();
    if options.session_id.is_none() {
        options.call_id = Some(call.id);
    }
    options
}

/// The purge step: with credentials, a durable purge job (or the row marked
/// `kept`) before the engine is called. `Err`: the job could not be
/// recorded, so the engine must not be called.
async fn plan_purge(
    p: &Pipeline,
    call: &Call<'_>,
    engine: &dyn Engine,
    options: &InvokeOptions<'_>,
    credentials: &Credentials,
) -> Result<Planned, Invoked> {
    if credentials.is_empty() {
        return Ok(Planned::Nothing);
    }
    let deadline = options
        .timeout
        .unwrap_or(p.config().engines.slowest_call_timeout());
    p.purger()
        .before_call(
            engine,
            call.id,
            &call.agent().engine_flow_id,
            options.session_id,
            deadline,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not record the purge job; not calling the engine");
            Invoked::Unrecorded(
                "journal unavailable: the call was not run (its engine-side purge could not be recorded)"
                    .into(),
            )
        })
}

/// The engine call, raced against the client's cancellation and the hard
/// stop; progress every `mcp.progress_interval` meanwhile (2.5, 2.67,
/// 2.75, … — always below "done").
async fn run(
    p: &Pipeline,
    call: &Call<'_>,
    engine: &dyn Engine,
    credentials: &Credentials,
    options: &InvokeOptions<'_>,
) -> Ran {
    let heartbeat = p.config().mcp.progress_interval;
    let started = Instant::now();
    let mut beats = 0u32;
    let engine_call = engine.invoke(
        &call.agent().engine_flow_id,
        &call.request.arguments,
        credentials,
        options,
    );
    tokio::pin!(engine_call);
    loop {
        tokio::select! {
            r = &mut engine_call => break match r {
                Ok(output) => Ran::Output(output),
                Err(e) => Ran::Failed(e),
            },
            _ = call.request.cancel.cancelled() => break Ran::Cancelled,
            _ = p.lifecycle().hard_stop().cancelled() => break Ran::Shutdown,
            _ = tokio::time::sleep(heartbeat), if call.request.progress.is_some() => {
                beats += 1;
                let fraction = f64::from(beats) / f64::from(beats + 1);
                call.progress(
                    2.0 + fraction,
                    &format!("waiting on engine ({} s)", started.elapsed().as_secs()),
                )
                .await;
            }
        }
    }
}

/// Ask the engine to stop a run nobody waits for any more, off the call's
/// path (tracked like the call, so a clean stop waits for the request).
fn stop_in_background(p: &Pipeline, engine: Arc<dyn Engine>, run: RunRef) {
    p.lifecycle().call_tracker().spawn(async move {
        stop_run(engine.as_ref(), &run).await;
    });
}
