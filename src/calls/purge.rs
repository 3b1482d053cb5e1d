//! Purging engine-side copies of calls that carried the user's credentials.
//!
//! Some engines keep what a call sent (Flowise stores the injected key in
//! plain text in its execution records). Before such a call reaches the
//! engine, a purge job is made durable ([`Purger::before_call`]): a crash
//! mid-call leaves a job that finds the records by the call's chat id or
//! session, never an untracked copy. After the call the job learns the
//! engine's record ids and is due at once ([`Purger::after_call`]), off the
//! caller's latency path; a background worker deletes the records, and
//! retries (doubling from `engines.purge_retry` up to an hour) while the
//! engine is down, across restarts, on any replica, until it is done.
//! While the engine's run is still going (a call cancelled, timed out, or
//! whose gateway died), the job looks again every few seconds and deletes
//! the records as soon as the run ends; a run abandoned in the call's own
//! conversation is asked to stop first. A job whose process died before
//! making it due is brought forward by recovery ([`Purger::bring_forward`]).
//! A purge never changes how the call itself ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::config::EnginesConfig;
use crate::engines::{Engine, EngineOutput, Engines, PurgeError, PurgeTarget, Retention, Stop};
use crate::lifecycle::Lifecycle;
use crate::store::{DynStore, EngineType, NewPurge, Purge, StoreError};

/// Jobs taken per round.
const BATCH: u32 = 32;
/// The longest wait between retries, and between idle checks for jobs
/// other replicas (or earlier runs) left due.
const MAX_WAIT: Duration = Duration::from_secs(3600);
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// A job made before the call is due this long after the call's deadline,
/// should the call's own process never come back to it.
const AFTER_DEADLINE: Duration = Duration::from_secs(60);
/// Attempts at recording a call's purge target before leaving the job to
/// its deadline (a busy SQLite writer or a PostgreSQL failover can refuse
/// one write), and the first pause between them (doubling).
const AFTER_CALL_ATTEMPTS: u32 = 4;
const AFTER_CALL_RETRY: Duration = Duration::from_millis(100);
/// While the engine's run goes on: look again this often during the call's
/// first [`RUN_POLL_FIRST_FOR`], then every [`RUN_POLL_LATER`] (so a copy
/// is gone within a few seconds of the run's end, however long the run).
const RUN_POLL_FIRST: Duration = Duration::from_secs(2);
const RUN_POLL_FIRST_FOR: chrono::Duration = chrono::Duration::minutes(2);
const RUN_POLL_LATER: Duration = Duration::from_secs(5);

/// The purge worker's handle: cheap to clone.
#[derive(Clone)]
pub struct Purger {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    engines: Engines,
    retry: Duration,
    /// How long one attempt holds a job before another worker may take it
    /// (an attempt is a few engine requests, each within the call timeout).
    lease: Duration,
    wake: Notify,
    /// The process's in-flight work: a call's after-call update is part of
    /// the call, so a clean stop (e.g. a stdio client closing stdin right
    /// after its answer) waits for it rather than leaving the job to its
    /// deadline.
    calls: TaskTracker,
}

/// What [`Purger::before_call`] arranged.
pub(super) enum Planned {
    /// Nothing to purge.
    Nothing,
    /// A durable job: what the engine call passes on, and what
    /// [`Purger::after_call`] completes.
    Purge(PurgeTarget),
}

impl Purger {
    /// Start the worker; it stops at `shutdown`.
    pub fn start(
        store: DynStore,
        engines: Engines,
        config: &EnginesConfig,
        lifecycle: &Lifecycle,
    ) -> Self {
        let slowest = config.slowest_call_timeout();
        let purger = Self {
            inner: Arc::new(Inner {
                store,
                engines,
                retry: config.purge_retry.max(Duration::from_millis(10)),
                lease: slowest
                    .saturating_mul(2)
                    .clamp(Duration::from_secs(10), MAX_WAIT),
                wake: Notify::new(),
                calls: lifecycle.call_tracker().clone(),
            }),
        };
        let worker = purger.clone();
        let shutdown = lifecycle.shutdown_token().clone();
        tokio::spawn(async move { worker.run(shutdown).await });
        purger
    }

    /// Before the engine is called with `has_credentials`: a durable purge
    /// job when the engine keeps what it is sent, or the row marked `kept`
    /// when the engine keeps it beyond the gateway's reach. `Err`: the job
    /// could not be recorded, so the engine must not be called.
    pub(super) async fn before_call(
        &self,
        engine: &dyn Engine,
        call_id: Uuid,
        flow_id: &str,
        session_id: Option<&str>,
        deadline: Duration,
    ) -> Result<Planned, StoreError> {
        let engine_name = engine.engine_type().as_str();
        match engine.retention() {
            Retention::Nothing => Ok(Planned::Nothing),
            Retention::Kept(why) => {
                tracing::debug!(reason = %why, "the engine keeps this call's credentials");
                metrics::counter!("vieagent_engine_purges_total", "engine" => engine_name, "outcome" => "kept")
                    .increment(1);
                if let Err(e) = self.inner.store.mark_engine_copy_kept(call_id).await {
                    tracing::error!(error = %e, "could not mark the call's engine copy kept");
                }
                Ok(Planned::Nothing)
            }
            Retention::Purgeable => {
                let now = Utc::now();
                let target = PurgeTarget {
                    flow_id: flow_id.to_string(),
                    record_ids: Vec::new(),
                    call_chat_id: session_id.is_none().then(|| call_id.to_string()),
                    session_id: session_id.map(str::to_string),
                    // A margin for clock skew between the gateway and the engine.
                    since: now - chrono::Duration::seconds(60),
                    answered: false,
                    stop_requested: false,
                };
                let due = now
                    + chrono::Duration::from_std(deadline + AFTER_DEADLINE)
                        .unwrap_or(chrono::Duration::hours(1));
                self.inner
                    .store
                    .schedule_purge(&NewPurge {
                        execution_log_id: call_id,
                        engine_type: engine.engine_type(),
                        target: serde_json::to_value(&target)
                            .map_err(|e| StoreError::corrupt(e.to_string()))?,
                        next_attempt_at: due,
                    })
                    .await?;
                Ok(Planned::Purge(target))
            }
        }
    }

    /// After the engine call: the job learns the engine's record ids (or
    /// that the call asked the engine to stop its run) and is due now. Runs
    /// in the background; should it be lost, the job is due anyway at the
    /// call's deadline, or when recovery finds the call's process gone, and
    /// finds the records itself.
    pub(super) fn after_call(
        &self,
        call_id: Uuid,
        mut target: PurgeTarget,
        output: Option<&EngineOutput>,
        stop_requested: bool,
    ) {
        if let Some(output) = output {
            target.answered = true;
            target.record_ids = output.kept_records.clone();
        }
        target.stop_requested |= stop_requested;
        let purger = self.clone();
        self.inner.calls.spawn(async move {
            let value = match serde_json::to_value(&target) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "cannot serialise a purge target");
                    return;
                }
            };
            let mut pause = AFTER_CALL_RETRY;
            for attempt in 1..=AFTER_CALL_ATTEMPTS {
                match purger
                    .inner
                    .store
                    .update_purge(call_id, &value, Utc::now())
                    .await
                {
                    Ok(()) => {
                        purger.inner.wake.notify_one();
                        return;
                    }
                    Err(e) if attempt == AFTER_CALL_ATTEMPTS => {
                        tracing::warn!(error = %e, execution_id = %call_id,
                            "could not update the purge job; it runs at the call's deadline instead");
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, execution_id = %call_id, attempt,
                            "updating the purge job failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                }
            }
        });
    }

    /// Make due now the jobs of calls recovery found dead (see
    /// [`crate::store::PurgeStore::bring_forward_purges`]), and wake the worker.
    pub async fn bring_forward(&self) {
        match self.inner.store.bring_forward_purges(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(jobs = n, "purges of calls whose process died are due now");
                self.inner.wake.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "could not bring purges forward"),
        }
    }

    async fn run(&self, shutdown: CancellationToken) {
        loop {
            let worked = self.round().await;
            let wait = if worked {
                Duration::ZERO
            } else {
                match self.inner.store.next_purge_due().await {
                    Ok(Some(due)) => (due - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::from_millis(200))
                        .clamp(Duration::from_millis(200), IDLE_CHECK),
                    Ok(None) => IDLE_CHECK,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the purge jobs");
                        IDLE_CHECK
                    }
                }
            };
            if wait.is_zero() {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Attempt the due jobs once; whether any was attempted.
    async fn round(&self) -> bool {
        let jobs = match self.inner.store.due_purges(Utc::now(), BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the purge jobs");
                return false;
            }
        };
        let mut worked = false;
        for job in jobs {
            // Tracked like a call: a shutdown's drain waits for an attempt
            // under way, so a copy deleted at the engine is also recorded as
            // purged instead of waiting out the lease for another process.
            worked |= self.inner.calls.track_future(self.attempt(job)).await;
        }
        worked
    }

    #[tracing::instrument(skip_all, fields(execution_id = %job.execution_log_id, engine = %job.engine_type, attempt = job.attempts + 1))]
    async fn attempt(&self, job: Purge) -> bool {
        let store = &self.inner.store;
        let id = job.execution_log_id;
        let lease = Utc::now() + chrono::Duration::from_std(self.inner.lease).unwrap_or_default();
        match store.claim_purge(id, job.attempts, lease).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a purge job");
                return false;
            }
        }
        let prepared = serde_json::from_value::<PurgeTarget>(job.target.clone())
            .map_err(|e| format!("the job's target is unreadable: {e}"))
            .and_then(|target| Ok((target, self.engine(job.engine_type)?)));
        let (target, engine) = match prepared {
            Ok(prepared) => prepared,
            Err(why) => {
                self.retry_later(&job, &why).await;
                return true;
            }
        };
        match engine.purge(&target).await {
            Ok(deleted) => {
                if let Err(e) = store.finish_purge(id, Utc::now()).await {
                    // The lease runs out and the purge runs again (deleting
                    // what is gone is success).
                    tracing::warn!(error = %e, "purged, but could not record it");
                    return true;
                }
                metrics::counter!("vieagent_engine_purges_total", "engine" => job.engine_type.as_str(), "outcome" => "purged")
                    .increment(1);
                tracing::info!(deleted, "engine-side copy of the call purged");
            }
            Err(PurgeError::InProgress) => self.wait_for_run(&job, target, engine.as_ref()).await,
            Err(e) => self.retry_later(&job, &e.to_string()).await,
        }
        true
    }

    /// The attempt failed: back off (doubling from `purge_retry`).
    async fn retry_later(&self, job: &Purge, why: &str) {
        let wait = backoff(self.inner.retry, job.attempts + 1);
        let due = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        metrics::counter!("vieagent_engine_purges_total", "engine" => job.engine_type.as_str(), "outcome" => "retry")
            .increment(1);
        tracing::warn!(error = %why, retry_in = ?wait,
            "could not purge the engine-side copy of a call; will retry");
        if let Err(e) = self
            .inner
            .store
            .retry_purge(job.execution_log_id, why, due)
            .await
        {
            tracing::warn!(error = %e, "could not record the purge's failure");
        }
    }

    /// The engine's run of the call is still going: ask it to stop when the
    /// call abandoned it (once), and look again in a few seconds.
    async fn wait_for_run(&self, job: &Purge, mut target: PurgeTarget, engine: &dyn Engine) {
        let engine_name = job.engine_type.as_str();
        if !target.stop_requested
            && let Some(run) = target.abandoned_run()
        {
            target.stop_requested = stop_run(engine, &run).await;
        }
        let poll = if Utc::now() - target.since < RUN_POLL_FIRST_FOR {
            RUN_POLL_FIRST
        } else {
            RUN_POLL_LATER
        };
        metrics::counter!("vieagent_engine_purges_total", "engine" => engine_name, "outcome" => "waiting")
            .increment(1);
        tracing::debug!(poll_in = ?poll, "the engine's run of the call is still going");
        let due = Utc::now() + chrono::Duration::from_std(poll).unwrap_or_default();
        let waited = match serde_json::to_value(&target) {
            Ok(value) => {
                self.inner
                    .store
                    .wait_purge(job.execution_log_id, &value, due)
                    .await
            }
            Err(e) => Err(StoreError::corrupt(e.to_string())),
        };
        if let Err(e) = waited {
            tracing::warn!(error = %e, "could not record the purge's wait; the lease runs out instead");
        }
    }

    fn engine(&self, engine_type: EngineType) -> Result<Arc<dyn Engine>, String> {
        self.inner
            .engines
            .get(engine_type)
            .map_err(|e| e.to_string())
    }
}

/// Ask `engine` to stop an abandoned run: whether it was asked.
pub(super) async fn stop_run(engine: &dyn Engine, run: &crate::engines::RunRef) -> bool {
    let engine_name = engine.engine_type().as_str();
    let (outcome, asked) = match engine.stop(run).await {
        Ok(Stop::Requested) => ("requested", true),
        Ok(Stop::Unsupported(why)) => {
            tracing::debug!(reason = why, "the engine's run cannot be stopped");
            ("unsupported", true)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not ask the engine to stop an abandoned run");
            ("failed", false)
        }
    };
    metrics::counter!("vieagent_engine_stops_total", "engine" => engine_name, "outcome" => outcome)
        .increment(1);
    asked
}

/// `base`, doubled per failed attempt, at most [`MAX_WAIT`].
fn backoff(base: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1 << doublings).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 4), Duration::from_secs(240));
        assert_eq!(backoff(base, 30), MAX_WAIT);
        assert_eq!(backoff(base, 0), base);
    }
}
