//! The tasks a serving process runs beside its requests, until shutdown:
//! catalog changes picked up (from this process, the CLI or other replicas)
//! and fanned out as `tools/list_changed`, credential changes made elsewhere
//! dropped from the Vault's row cache, entitlement changes made elsewhere
//! dropped from the entitlement cache and told to the user's sessions, the
//! authorization server's keys (retried while it does not answer), the
//! replica heartbeat, and the periodic recovery of calls whose process died.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config;
use crate::state::AppState;

use super::recovery::{recover_dead_replicas, recover_stale_calls};

pub(super) fn spawn(state: &AppState) {
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
    // Credential changes made anywhere: the row cache forgets them at once.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<uuid::Uuid>>(256);
    let watcher = state.clone();
    let stop = state.shutdown_token().clone();
    tokio::spawn(async move {
        watcher.store().watch_credentials(tx, stop).await;
    });
    let vault = state.vault().clone();
    tokio::spawn(async move {
        while let Some(user) = rx.recv().await {
            vault.forget_cached(user);
        }
    });
    // Entitlement changes made anywhere (PostgreSQL: NOTIFY with the user's
    // id): forget the user's cached entitlements, tell the user's sessions.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<uuid::Uuid>>(256);
    let watcher = state.clone();
    let stop = state.shutdown_token().clone();
    tokio::spawn(async move {
        watcher.store().watch_entitlements(tx, stop).await;
    });
    let entitled = state.clone();
    tokio::spawn(async move {
        while let Some(user) = rx.recv().await {
            match user {
                Some(user) => {
                    crate::billing::entitlements_changed(
                        entitled.entitlements(),
                        entitled.sessions(),
                        user,
                    )
                    .await;
                }
                // (Re)connected: whatever changed meanwhile is unknown.
                None => entitled.entitlements().clear(),
            }
        }
    });
    // Toolbox changes made anywhere (PostgreSQL: NOTIFY with the user's
    // id; a purchase that joins the toolbox too): forget the user's cached
    // sets, tell the user's sessions.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<uuid::Uuid>>(256);
    let watcher = state.clone();
    let stop = state.shutdown_token().clone();
    tokio::spawn(async move {
        watcher.store().watch_toolboxes(tx, stop).await;
    });
    let chosen = state.clone();
    tokio::spawn(async move {
        while let Some(user) = rx.recv().await {
            match user {
                Some(user) => {
                    crate::toolbox::changed(chosen.calls().toolboxes(), chosen.sessions(), user)
                        .await;
                }
                None => chosen.calls().toolboxes().clear(),
            }
        }
    });
    spawn_list_changed_notifier(state.clone());
    // The authorization server's metadata and keys, fetched now and again
    // whenever it has not answered (the gateway serves API keys meanwhile).
    if state.oidc().is_some() {
        let oidc = state.clone();
        tokio::spawn(async move {
            if let Some(o) = oidc.oidc() {
                o.keep_trying(oidc.shutdown_token().clone()).await;
            }
        });
    }
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
                // A replica known dead has its calls recovered now, not at
                // the next periodic sweep.
                Ok(true) if !held(&hold) => {
                    recover_dead_replicas(&beat).await;
                }
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("this replica's registration was removed; registering again");
                    let _ = beat
                        .store()
                        .register_replica(
                            beat.replica_id(),
                            &config::hostname(),
                            env!("CARGO_PKG_VERSION"),
                            super::recovery::this_process().as_deref(),
                        )
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
                    if !held(&recovery_hold) {
                        recover_stale_calls(&sweeper).await;
                    }
                    sweeper.limits().prune();
                }
            }
        }
    });
}

/// Whether recovery is held back (this process lost the database lately).
fn held(hold: &Mutex<Option<Instant>>) -> bool {
    hold.lock()
        .ok()
        .and_then(|h| *h)
        .is_some_and(|until| Instant::now() < until)
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
