//! The gateway process, the composition root: the only module that sees
//! every other one. [`bootstrap::prepare`] assembles one [`AppState`]
//! (shared with `vieagent stdio`), [`router`] puts the edges together,
//! [`run`] serves HTTP for `serve` and tests, [`run_stdio`] serves one MCP
//! session on stdin/stdout; both end through the same `drain`.

mod background;
mod bootstrap;
mod recovery;
mod router;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::{Error, Result};

pub use crate::state::AppState;
pub use bootstrap::{prepare, prepare_schema};
pub use router::router;

/// Start the gateway on `listener` and serve until `shutdown` resolves.
pub async fn run<F>(mut config: Config, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    // Links point where the server really listens (port 0 becomes a port).
    config.listen = listener.local_addr()?;
    let state = prepare(config).await?;
    serve(state, listener, shutdown).await
}

/// Serve a prepared state until `shutdown`; in-flight calls finish first.
pub async fn serve<F>(state: AppState, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    tracing::info!(%addr, tools = state.catalog().snapshot().len(), "vieagent listening on http://{addr}");
    let on_shutdown = state.clone();
    // Small SSE frames must not wait for Nagle's algorithm (40 ms stalls).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    if let Some(metrics_addr) = state.config().metrics_listen {
        let metrics_listener = TcpListener::bind(metrics_addr).await.map_err(|e| {
            Error::Startup(format!("cannot listen on {metrics_addr} for metrics: {e}"))
        })?;
        let metrics_app = Router::new()
            .route("/metrics", get(crate::metrics::render))
            .with_state(state.clone());
        let stop = state.shutdown_token().clone();
        tracing::info!(addr = %metrics_addr, "metrics on http://{metrics_addr}/metrics");
        tokio::spawn(async move {
            let served = axum::serve(metrics_listener, metrics_app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "metrics listener failed");
            }
        });
    }
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            on_shutdown.lifecycle().begin_shutdown();
            let grace = on_shutdown.config().shutdown_grace;
            tracing::info!(
                grace_s = grace.as_secs_f64(),
                in_flight = on_shutdown.lifecycle().call_tracker().len(),
                "shutdown requested: refusing new calls, letting in-flight calls finish"
            );
            // Stop accepting now; sessions stay open while their calls run.
            let drainer = on_shutdown.clone();
            tokio::spawn(async move { drain(drainer).await });
        })
        .await;
    drain(state.clone()).await;
    leave(&state).await;
    result?;
    tracing::info!("server stopped");
    Ok(())
}

/// Serve one MCP session on stdin/stdout (`vieagent stdio`) until the
/// client closes stdin or `shutdown` resolves; calls still in flight then
/// end as they do when `serve` stops.
pub async fn run_stdio<F>(config: Config, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let state = prepare(config).await?;
    let result = crate::mcp::stdio::serve(state.clone(), shutdown).await;
    state.lifecycle().begin_shutdown();
    drain(state.clone()).await;
    leave(&state).await;
    result
}

/// Let in-flight calls finish for up to `shutdown_grace`, then stop the rest
/// (their rows are failed with `shutdown`, their credits released) and close
/// the sessions and streams so the server can exit. Idempotent.
async fn drain(state: AppState) {
    let grace = state.config().shutdown_grace;
    let lifecycle = state.lifecycle();
    let tracker = lifecycle.call_tracker().clone();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err()
        && !lifecycle.hard_stop().is_cancelled()
    {
        tracing::warn!(
            in_flight = tracker.len(),
            "grace period over: stopping the calls still running"
        );
    }
    lifecycle.hard_stop().cancel();
    // Stopped calls record their rows; give them a moment.
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        tracing::error!(
            in_flight = tracker.len(),
            "calls did not stop; recovery will fail their rows"
        );
    }
    // Ends SSE streams and MCP sessions so the server can drain.
    lifecycle.shutdown_token().cancel();
}

/// The last step of a clean stop: leave the replica set (rows this process
/// could not finish become other replicas' to recover at once), close the
/// database.
async fn leave(state: &AppState) {
    if let Err(e) = state.store().remove_replica(state.replica_id()).await {
        tracing::warn!(error = %e, "could not deregister this replica");
    }
    state.store().close().await;
}
