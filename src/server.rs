//! The gateway process, the composition root: [`prepare`] assembles one
//! [`AppState`] (shared with `vieagent stdio`), one router, [`run`] for
//! `serve` and tests.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::engines::Engines;
use crate::error::{Error, Result};
use crate::store::{self, Orphans, Store, StoreError};
use crate::vault::Vault;

pub use crate::state::AppState;

/// Bring the schema up to date, refusing a database newer than this binary.
pub async fn prepare_schema(store: &dyn Store) -> Result<()> {
    match store.migrate().await {
        Ok(applied) if applied.is_empty() => {
            tracing::debug!("database schema is current");
            Ok(())
        }
        Ok(applied) => {
            tracing::info!(?applied, "applied database migrations");
            Ok(())
        }
        Err(e @ StoreError::SchemaTooNew { .. }) => Err(Error::Startup(e.to_string())),
        Err(e) => Err(Error::Startup(format!(
            "could not migrate the database: {e}"
        ))),
    }
}

/// Everything a gateway process needs before it serves: database (migrated),
/// Vault key check, engines, demo seed, stale-call recovery, catalog, and the
/// background tasks (catalog watcher, list-changed fan-out, recovery sweep).
pub async fn prepare(config: Config) -> Result<AppState> {
    crate::crypto::install_tls_provider();
    let store = store::connect(&config).await?;
    prepare_schema(store.as_ref()).await?;
    let vault = Vault::open(&config, store.clone()).await?;
    let engines = Engines::from_config(&config.engines)
        .map_err(|e| Error::Startup(format!("engine configuration: {e}")))?;
    if !engines.configured().is_empty() {
        tracing::info!(engines = ?engines.configured(), "engines configured");
    }
    crate::demo::seed_if_wanted(&config, store.as_ref()).await?;
    let state = AppState::new(store, vault, engines, config);
    state.store().set_replica_id(state.replica_id());
    state
        .store()
        .register_replica(state.replica_id(), &hostname(), env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| Error::Startup(format!("could not register this replica: {e}")))?;
    tracing::info!(replica = %state.replica_id(), "registered replica");
    state.refresh_catalog().await?;
    recover_stale_calls(&state).await;
    spawn_background(&state);
    Ok(state)
}

/// The longest a call can legitimately run: any `running` row older than
/// this (plus a margin) belongs to a process that is gone.
fn max_call_duration(state: &AppState) -> Duration {
    let engines = &state.config().engines;
    let mut longest = engines
        .flowise
        .call_timeout
        .max(engines.activepieces.call_timeout)
        .max(Duration::from_secs(10));
    for entry in state.catalog().snapshot().entries() {
        if let Some(ms) = entry.agent.timeout_ms.and_then(|ms| u64::try_from(ms).ok()) {
            longest = longest.max(Duration::from_millis(ms));
        }
    }
    longest
}

/// Leave the replica set (clean stop): rows this process could not
/// finish become other replicas' to recover at once.
pub async fn retire(state: &AppState) {
    if let Err(e) = state.store().remove_replica(state.replica_id()).await {
        tracing::warn!(error = %e, "could not deregister this replica");
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Mark calls left running by a dead process as failed ("gateway
/// restarted"): rows of replicas that stopped heartbeating (3 intervals),
/// and untagged rows older than the longest possible call. Live replicas'
/// calls are never touched, however long they run.
async fn recover_stale_calls(state: &AppState) {
    let now = chrono::Utc::now();
    let stale_after = max_call_duration(state) + Duration::from_secs(5);
    let silent = state.config().heartbeat_interval * 3;
    let orphans = Orphans {
        me: Some(state.replica_id()),
        dead_before: now
            - chrono::Duration::from_std(silent).unwrap_or(chrono::Duration::seconds(15)),
        legacy_before: now
            - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::minutes(5)),
    };
    match state
        .store()
        .fail_orphaned_executions(&orphans, "gateway restarted")
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rows = n,
            "marked calls left running by a stopped gateway as failed"
        ),
        Err(e) => tracing::warn!(error = %e, "stale call recovery failed"),
    }
}

fn spawn_background(state: &AppState) {
    crate::metrics::spawn_upkeep(state.shutdown_token().clone());
    // Catalog changes made anywhere (this process, CLI, other replicas).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(16);
    let watcher = state.clone();
    let stop = state.shutdown_token().clone();
    let poll = state.config().catalog_poll_interval;
    tokio::spawn(async move {
        watcher.store().watch_catalog(tx, stop, poll).await;
    });
    let refresher = state.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            while rx.try_recv().is_ok() {} // coalesce bursts
            if let Err(e) = refresher.refresh_catalog().await {
                tracing::warn!(error = %e, "catalog refresh failed");
            }
        }
    });
    spawn_list_changed_notifier(state.clone());
    // No recovery sweeps before this: after this process lost the database,
    // other replicas need time to heartbeat again before they look dead.
    let recovery_hold: Arc<Mutex<Option<Instant>>> = Arc::default();
    // Heartbeat: other replicas recover this one's calls only once it stops.
    let beat = state.clone();
    let hold = recovery_hold.clone();
    tokio::spawn(async move {
        let interval = beat.config().heartbeat_interval;
        loop {
            tokio::select! {
                _ = beat.shutdown_token().cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match beat.store().heartbeat(beat.replica_id()).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("this replica's registration was removed; registering again");
                    let _ = beat
                        .store()
                        .register_replica(beat.replica_id(), &hostname(), env!("CARGO_PKG_VERSION"))
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed");
                    if let Ok(mut hold) = hold.lock() {
                        *hold = Some(Instant::now() + interval * 4);
                    }
                }
            }
        }
    });
    // Periodic recovery: rows whose process died recently become failed once
    // their longest possible run time has passed.
    let sweeper = state.clone();
    tokio::spawn(async move {
        let interval = sweeper.config().recovery_interval;
        loop {
            tokio::select! {
                _ = sweeper.shutdown_token().cancelled() => return,
                _ = tokio::time::sleep(interval) => {
                    let held = recovery_hold
                        .lock()
                        .ok()
                        .and_then(|h| *h)
                        .is_some_and(|until| Instant::now() < until);
                    if !held {
                        recover_stale_calls(&sweeper).await;
                    }
                    sweeper.limits().prune();
                }
            }
        }
    });
}

/// Forward catalog changes to connected sessions until shutdown.
fn spawn_list_changed_notifier(state: AppState) {
    let mut changes = state.catalog().subscribe();
    let stop = state.shutdown_token().clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    state.sessions().notify_tool_list_changed().await;
                }
            }
        }
    });
}

/// Start the gateway on `listener` and serve until `shutdown` resolves.
pub async fn run<F>(config: Config, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
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
                in_flight = on_shutdown.call_tracker().len(),
                "shutdown requested: refusing new calls, letting in-flight calls finish"
            );
            // Stop accepting now; sessions stay open while their calls run.
            let drainer = on_shutdown.clone();
            tokio::spawn(async move { drain(drainer, grace).await });
        })
        .await;
    drain(state.clone(), state.config().shutdown_grace).await;
    retire(&state).await;
    state.store().close().await;
    result?;
    tracing::info!("server stopped");
    Ok(())
}

/// Let in-flight calls finish for up to `grace`, then stop the rest (their
/// rows are failed with `shutdown`, their credits released) and close the
/// sessions and streams so the server can exit. Idempotent.
async fn drain(state: AppState, grace: Duration) {
    let tracker = state.call_tracker().clone();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err()
        && !state.hard_stop().is_cancelled()
    {
        tracing::warn!(
            in_flight = tracker.len(),
            "grace period over: stopping the calls still running"
        );
    }
    state.hard_stop().cancel();
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
    state.shutdown_token().cancel();
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config().metrics_listen.is_none() {
        router = router.route("/metrics", get(crate::metrics::render));
    }
    crate::metrics::install();
    let max_body = state.config().limits.max_body_bytes;
    router
        .with_state(state.clone())
        .merge(crate::mcp::routes(&state))
        .merge(crate::admin::routes(&state))
        .merge(crate::chat::routes(&state))
        .fallback(|| async { Error::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            Error::MethodNotAllowed(format!("this endpoint does not accept {method}"))
        })
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("http", method = %request.method(), path, request_id)
            }),
        )
        .layer(RequestBodyLimitLayer::new(max_body))
        // The request id: the caller's `x-request-id`, or a new UUID; echoed
        // on the response and recorded on the request's span.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the database answers and its schema matches this binary.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_shutting_down() {
        return unready("shutting down");
    }
    if let Err(e) = state.store().ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return unready("database unreachable");
    }
    match state.store().migration_status().await {
        Ok(status) if status.is_current() => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "database": "ok",
                "migrations": "current",
                "tools": state.catalog().snapshot().len(),
            })),
        ),
        Ok(status) => {
            let reason = if status.unknown().is_empty() {
                format!("pending migrations {:?}", status.pending())
            } else {
                format!(
                    "database has migrations {:?} unknown to this binary",
                    status.unknown()
                )
            };
            unready(&reason)
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migration status");
            unready("database unreachable")
        }
    }
}

fn unready(reason: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unready", "reason": reason })),
    )
}
