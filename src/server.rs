//! The HTTP server: one [`AppState`], one router, [`run`] for `serve` and tests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{self, DynStore, Store, StoreError};
use crate::vault::Vault;

/// Shared application state: cheap to clone, everything behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    vault: Vault,
    config: Config,
    shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(store: DynStore, vault: Vault, config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                vault,
                config,
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }
}

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

/// Start the gateway on `listener` and serve until `shutdown` resolves.
/// Connects to the configured database (with retries) and migrates it first.
pub async fn run<F>(config: Config, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let store = store::connect(&config).await?;
    prepare_schema(store.as_ref()).await?;
    let vault = Vault::open(&config, store.clone()).await?;
    let state = AppState::new(store.clone(), vault, config);
    let result = serve(state, listener, shutdown).await;
    store.close().await;
    result
}

/// Serve an already-prepared state.
pub async fn serve<F>(state: AppState, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    tracing::info!(%addr, "vieagent listening on http://{addr}");
    let on_shutdown = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            on_shutdown.begin_shutdown();
            tracing::info!("shutdown requested, draining connections");
        })
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!("http", method = %request.method(), path)
            }),
        )
        .with_state(state)
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
            Json(json!({ "status": "ready", "database": "ok", "migrations": "current" })),
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
