//! The audit log: who changed what, through the admin API or the user's
//! own API and web app.

use serde_json::Value;

use super::auth::AdminActor;
use crate::state::AppState;
use crate::store::NewAuditEntry;

/// Record a mutation. Failures are logged, not returned: the change happened.
pub async fn audit(
    state: &AppState,
    actor: &AdminActor,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    details: Value,
) {
    let entry = NewAuditEntry {
        actor_user_id: actor.user_id,
        actor: actor.label.clone(),
        action: action.into(),
        target_type: target_type.into(),
        target_id,
        details,
    };
    if let Err(e) = state.store().insert_audit(&entry).await {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}
