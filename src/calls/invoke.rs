//! The engine call: the agent's engine, its request options, and a race
//! against the client's cancellation and the gateway's hard stop. The
//! credentials and the limits' slot are taken by value and dropped the
//! moment the engine has answered. A call that carries credentials to an
//! engine that keeps them has its purge job made durable first
//! ([`super::purge`]).

use std::time::{Duration, Instant};

use crate::engines::{EngineError, EngineOutput, InvokeOptions};
use crate::limits::Permits;
use crate::vault::Credentials;

use super::pipeline::{Call, Pipeline};
use super::purge::Planned;

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
    let mut options = InvokeOptions::new(&agent.engine_config);
    options.timeout = agent
        .timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis);
    options.session_id = call.request.session_id.as_deref();
    let deadline = options
        .timeout
        .unwrap_or(p.config().engines.slowest_call_timeout());
    let planned = if credentials.is_empty() {
        Planned::Nothing
    } else {
        match p
            .purger()
            .before_call(
                engine.as_ref(),
                call.id,
                &agent.engine_flow_id,
                options.session_id,
                deadline,
            )
            .await
        {
            Ok(planned) => planned,
            Err(e) => {
                tracing::error!(error = %e, "could not record the purge job; not calling the engine");
                return Invoked::Unrecorded(
                    "journal unavailable: the call was not run (its engine-side purge could not be recorded)"
                        .into(),
                );
            }
        }
    };
    if let Planned::Purge(target) = &planned
        && target.call_chat_id.is_some()
    {
        options.call_id = Some(call.id);
    }
    call.progress(2.0, "waiting on engine").await;
    let engine_started = Instant::now();
    // While the engine works, progress every `mcp.progress_interval`
    // (2.5, 2.67, 2.75, … — always below "done").
    let heartbeat = p.config().mcp.progress_interval;
    let mut beats = 0u32;
    let engine_call = engine.invoke(
        &agent.engine_flow_id,
        &call.request.arguments,
        &credentials,
        &options,
    );
    let outcome = {
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
                        &format!("waiting on engine ({} s)", engine_started.elapsed().as_secs()),
                    )
                    .await;
                }
            }
        }
    };
    let engine_time = engine_started.elapsed();
    drop((credentials, permits));
    if let Planned::Purge(target) = planned {
        let output = match &outcome {
            Ran::Output(output) => Some(output),
            _ => None,
        };
        p.purger().after_call(call.id, target, output);
    }
    Invoked::Ran {
        outcome,
        engine_time,
    }
}
