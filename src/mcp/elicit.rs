//! URL-mode elicitation for a call that lacks credentials (protocol
//! 2025-11-25, clients declaring `capabilities.elicitation.url`): instead of
//! ending the call with "add your key", the server asks the client to open
//! the connect link (`elicitation/create`, `mode: "url"`). If the user
//! accepts, the call waits (up to `web.elicitation_wait`) for the key to be
//! stored through the link, then runs again; on decline, cancel or timeout
//! it ends with the same tool error as for any other client. The key goes
//! from the user's browser to the Vault, never through the MCP messages.

use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::ElicitationAction;
use rmcp::service::ElicitationMode;
use rmcp::service::RequestContext;
use uuid::Uuid;

use crate::calls::ToolResult;
use crate::state::AppState;

/// How often the Vault is checked while waiting (any replica may store it).
const POLL: Duration = Duration::from_millis(250);

/// Whether the call should run again: the client supports URL elicitation,
/// the user accepted the link, and the credentials were stored in time.
pub async fn credentials_stored(
    state: &AppState,
    context: &RequestContext<RoleServer>,
    user_id: Uuid,
    tool: &str,
    result: &ToolResult,
) -> bool {
    let Some((providers, Some(url))) = result.missing_credentials() else {
        return false;
    };
    if !context
        .peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Url)
    {
        return false;
    }
    let wait = state.config().web.elicitation_wait;
    let message = format!(
        "Tool '{tool}' needs your {} key. Open this page to add it: the key goes straight to the \
         gateway's encrypted Vault, not through this chat. The call continues once it is stored.",
        providers.join(", ")
    );
    let elicitation_id = result
        .execution_id
        .map_or_else(|| Uuid::new_v4().to_string(), |id| id.to_string());
    let started = Instant::now();
    let action = tokio::select! {
        answer = context.peer.elicit_url_with_timeout(message, url, elicitation_id, Some(wait)) => answer,
        () = context.ct.cancelled() => return false,
    };
    match action {
        Ok(ElicitationAction::Accept) => {}
        Ok(other) => {
            tracing::info!(action = ?other, "connect link elicitation not accepted");
            return false;
        }
        Err(e) => {
            tracing::info!(error = %e, "connect link elicitation failed");
            return false;
        }
    }
    let deadline = started + wait;
    loop {
        match state.vault().list(user_id).await {
            Ok(stored)
                if providers
                    .iter()
                    .all(|p| stored.iter().any(|c| &c.provider == p)) =>
            {
                tracing::info!(
                    tool,
                    "credentials stored through the connect link; running the call again"
                );
                return true;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not check for the stored credentials"),
        }
        if Instant::now() + POLL > deadline {
            tracing::info!(tool, "no credentials stored within web.elicitation_wait");
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = context.ct.cancelled() => return false,
            () = state.shutdown_token().cancelled() => return false,
        }
    }
}
