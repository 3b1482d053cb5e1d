//! The process commands: `serve`, `stdio`, `migrate`, `healthcheck`.

use secrecy::ExposeSecret;

use super::util::shutdown_signal;
use crate::config::{Config, redact_url};
use crate::error::{Error, Result};
use crate::server;
use crate::store;

/// `vieagent serve`: the gateway on the configured address until Ctrl-C or
/// SIGTERM.
pub(super) async fn serve(config: Config) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Startup(format!("cannot listen on {}: {e}", config.listen)))?;
    server::run(config, listener, shutdown_signal()).await
}

/// `vieagent stdio`: one MCP session on stdin/stdout.
pub(super) async fn stdio(config: Config) -> Result<()> {
    server::run_stdio(config, shutdown_signal()).await
}

/// `vieagent migrate`: apply pending migrations and say where the schema is.
pub(super) async fn migrate(config: &Config) -> Result<()> {
    let store = store::connect(config).await?;
    let applied = store.migrate().await.map_err(|e| match e {
        e @ store::StoreError::SchemaTooNew { .. } => Error::Startup(e.to_string()),
        other => Error::Startup(format!("migration failed: {other}")),
    })?;
    let status = store.migration_status().await?;
    let at = status.applied.last().copied().unwrap_or(0);
    let db = redact_url(config.database_url.expose_secret());
    if applied.is_empty() {
        println!("{db}: schema is up to date (version {at})");
    } else {
        println!("{db}: applied migrations {applied:?}; schema is at version {at}");
    }
    store.close().await;
    Ok(())
}

/// `vieagent healthcheck`: exit 0 if `/healthz` answers.
pub(super) async fn healthcheck(config: &Config, url: Option<String>) -> Result<()> {
    let url = url.unwrap_or_else(|| {
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("ok: {url}");
            Ok(())
        }
        Ok(r) => Err(Error::Startup(format!("{url} answered {}", r.status()))),
        Err(e) => Err(Error::Startup(format!("{url} is not answering: {e}"))),
    }
}
