//! `vieagent stdio`: one MCP session over stdin/stdout for one user (the
//! owner of `VIEAGENT_API_KEY`), as Claude Desktop / Cursor launch it.
//! stdout carries only the protocol; logs go to stderr.

use std::sync::Arc;

use rmcp::ServiceExt;
use secrecy::ExposeSecret;

use super::handler::GatewayHandler;
use crate::error::{Error, Result};
use crate::server::AppState;

/// Serve MCP on stdin/stdout until the client closes stdin or `shutdown` fires.
pub async fn serve(
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let Some(key) = state.config().api_key.clone() else {
        return Err(Error::Startup(
            "vieagent stdio needs VIEAGENT_API_KEY: the API key of the user this session acts for \
             (create one with `vieagent keys create --user you@example.com`)"
                .into(),
        ));
    };
    let Some(auth) = state
        .auth()
        .authenticate(state.store_arc(), key.expose_secret())
        .await?
    else {
        return Err(Error::Startup(
            "VIEAGENT_API_KEY is not a valid API key (unknown, revoked, or its user is disabled)"
                .into(),
        ));
    };
    tracing::info!(user_id = %auth.user.id, tools = state.catalog().snapshot().len(), "serving MCP on stdio");
    let handler = GatewayHandler::stdio(state.clone(), Arc::clone(&auth.user));
    let ct = state.shutdown_token().child_token();
    let stop = ct.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let running = handler
        .serve_with_ct(rmcp::transport::stdio(), ct.clone())
        .await
        .map_err(|e| Error::Startup(format!("MCP session did not start: {e}")))?;
    let reason = running.waiting().await;
    tracing::info!(?reason, "stdio session ended");
    Ok(())
}
