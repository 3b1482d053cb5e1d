//! Calls left `running` by a process that is gone end `failed` ("gateway
//! restarted"), their credits released: at start-up and periodically, never
//! the calls of a live replica.

use std::time::Duration;

use crate::state::AppState;
use crate::store::Orphans;

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

/// Mark calls left running by a dead process as failed ("gateway
/// restarted"): rows of replicas that stopped heartbeating (3 intervals),
/// and untagged rows older than the longest possible call. Live replicas'
/// calls are never touched, however long they run.
pub(super) async fn recover_stale_calls(state: &AppState) {
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
        .fail_orphaned_executions(&orphans, crate::calls::GATEWAY_RESTARTED)
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
