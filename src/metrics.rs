//! Prometheus metrics (`GET /metrics`), recorded with the `metrics` crate.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `vieagent_tool_calls_total` | counter | `tool`, `engine`, `outcome` (`success` or the error kind) |
//! | `vieagent_call_duration_seconds` | histogram | `transport` — whole call, as the client sees it |
//! | `vieagent_engine_duration_seconds` | histogram | `engine` — the engine request alone |
//! | `vieagent_gateway_overhead_seconds` | histogram | — call time minus engine time |
//! | `vieagent_credits_consumed_total` | counter | `tool` |
//! | `vieagent_calls_refused_total` | counter | `reason` (`rate_limited`, `agent_busy`, `overloaded`, `shutting_down`) |
//! | `vieagent_journal_write_seconds` | histogram | — one journal transaction |
//! | `vieagent_journal_batch_ops` | histogram | — ops per journal transaction |
//! | `vieagent_engine_calls_in_flight` | gauge | — |
//! | `vieagent_journal_unsettled_calls` | gauge | — calls answered while the database was down, their rows not yet finished |
//! | `vieagent_mcp_sessions` | gauge | `transport` |
//! | `vieagent_mcp_session_refusals_total` | counter | `transport`, `reason` (`other_user`) — requests naming another user's session, answered 404 |
//! | `vieagent_mcp_sessions_closed_total` | counter | `transport`, `reason` (`access_withdrawn`) — sessions closed because their user was disabled or key revoked |
//! | `vieagent_mcp_rejected_messages_total` | counter | `transport` — malformed JSON-RPC messages refused before rmcp |
//! | `vieagent_tools_list_cache_total` | counter | `result` (`hit`, `miss`) — stateless tools/list answers replayed or built |
//! | `vieagent_db_pool_connections` | gauge | `state` (`in_use`, `idle`) |
//! | `vieagent_sqlite_wal_frames` | gauge | — SQLite: WAL frames at the last background checkpoint |
//! | `vieagent_http_requests_total` | counter | `method`, `path` (the route), `status` |
//! | `vieagent_http_request_duration_seconds` | histogram | `method`, `path` |
//!
//! One recorder per process (tests run several servers in one process and
//! share it; their assertions compare before/after values).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Histogram buckets (seconds): 0.25 ms … 2 min.
const BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 120.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder (once) and return its handle; `None`
/// if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("vieagent_journal_batch_ops".into()),
                        BATCH_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics disabled");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Drain histogram samples into their buckets every few seconds until
/// `stop`. The exporter keeps raw samples until upkeep runs; without this a
/// server nobody scrapes would hold every call's samples (the soak test
/// found ~80 bytes per call of steady growth).
pub fn spawn_upkeep(stop: tokio_util::sync::CancellationToken) {
    let Some(handle) = install() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => handle.run_upkeep(),
            }
        }
    });
}

/// `GET /metrics`: the Prometheus text format, with the gauges read now.
pub async fn render(State(state): State<AppState>) -> Response {
    sample_gauges(&state);
    let body = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

const TRANSPORTS: &[&str] = &["streamable_http", "sse", "stdio", "subscriptions"];

fn sample_gauges(state: &AppState) {
    let active = state.sessions().active();
    for transport in TRANSPORTS {
        let n = active
            .iter()
            .find(|(t, _)| t == transport)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("vieagent_mcp_sessions", "transport" => *transport).set(n as f64);
    }
    let pool = state.store().pool_stats();
    metrics::gauge!("vieagent_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!("vieagent_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("vieagent_engine_calls_in_flight")
        .set(state.limits().engine_calls_in_flight() as f64);
}

/// Middleware: count and time every HTTP request by route.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("vieagent_http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("vieagent_http_request_duration_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}
