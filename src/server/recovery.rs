//! Calls left `running` by a process that is gone end `failed` ("gateway
//! restarted"), their credits released, and their engine-side purges made
//! due at once: at start-up, as soon as a replica is known dead, and
//! periodically; never the calls of a live replica.
//!
//! A replica is known dead when its heartbeat is stale (three intervals),
//! or, at once, when it ran on this kernel in this pid namespace and its
//! process is gone (a `kill -9` and a restart on the same host: the
//! embedded SQLite default always is).

use std::time::Duration;

use crate::state::AppState;
use crate::store::{Orphans, Replica};

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
/// restarted"): rows of replicas that stopped heartbeating (3 intervals)
/// or are no longer registered, and untagged rows older than the longest
/// possible call. Live replicas' calls are never touched, however long they
/// run. Then the purges of ended calls that were never tried are due now.
pub(super) async fn recover_stale_calls(state: &AppState) {
    let now = chrono::Utc::now();
    let stale_after = max_call_duration(state) + Duration::from_secs(5);
    let orphans = Orphans {
        me: Some(state.replica_id()),
        dead_before: now - silent_for(state),
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
    state.calls().purger().bring_forward().await;
}

/// How long a replica may be silent before it counts as dead.
fn silent_for(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config().heartbeat_interval * 3)
        .unwrap_or(chrono::Duration::seconds(15))
}

/// Forget the replicas known dead (see the module) and, when there were
/// any, recover their calls now: whether any was.
pub(super) async fn recover_dead_replicas(state: &AppState) -> bool {
    let replicas = match state.store().list_replicas().await {
        Ok(replicas) => replicas,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list replicas");
            return false;
        }
    };
    let silent_since = chrono::Utc::now() - silent_for(state);
    let me = this_process();
    let dead: Vec<&Replica> = replicas
        .iter()
        .filter(|r| r.id != state.replica_id())
        .filter(|r| {
            r.heartbeat_at < silent_since
                || matches!((&r.process, &me), (Some(theirs), Some(me)) if gone(theirs, me))
        })
        .collect();
    if dead.is_empty() {
        return false;
    }
    for replica in &dead {
        tracing::info!(replica = %replica.id, hostname = %replica.hostname,
            last_heartbeat = %replica.heartbeat_at, "a replica is gone; recovering its calls");
        if let Err(e) = state.store().remove_replica(replica.id).await {
            tracing::warn!(error = %e, "could not forget a dead replica");
        }
    }
    recover_stale_calls(state).await;
    true
}

/// This process as the operating system knows it,
/// `linux:<boot id>:<pid namespace>:<pid>`, when it can tell.
pub(super) fn this_process() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!(
        "linux:{}:{}:{}",
        boot.trim(),
        namespace.to_string_lossy(),
        std::process::id()
    ))
}

/// Whether `theirs` (another replica's [`this_process`]) ran on this
/// kernel, in this pid namespace, and its process is gone (or a zombie). A
/// pid in use again by some other process counts as alive: the heartbeat
/// decides then.
fn gone(theirs: &str, me: &str) -> bool {
    let (Some((their_place, pid)), Some((my_place, my_pid))) =
        (theirs.rsplit_once(':'), me.rsplit_once(':'))
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if their_place != my_place || pid.to_string() == my_pid {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S …`: the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| matches!(state, "Z" | "X")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_on_this_host_is_gone_when_its_pid_is() {
        let me = this_process().expect("Linux with /proc");
        let place = me.rsplit_once(':').expect("pid").0;
        // This process, and a pid that exists (1), are not gone.
        assert!(!gone(&me, &me));
        assert!(!gone(&format!("{place}:1"), &me));
        // A pid that cannot exist is.
        assert!(gone(&format!("{place}:4194305"), &me));
        // Elsewhere (another boot or pid namespace), nothing is known.
        assert!(!gone("linux:other-boot:pid:[1]:4194305", &me));
        assert!(!gone("garbage", &me));
    }
}
