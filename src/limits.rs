//! Call limits, checked in the call pipeline before anything is journaled:
//! a per-user rate (calls per minute, `governor`'s GCRA; off by default), a
//! per-agent concurrency cap (off by default), and a process-wide cap on
//! engine calls in flight: past it calls wait for a slot (backpressure) up
//! to `queue_timeout`, then are refused — never an unbounded queue.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::config::LimitsConfig;

/// Why a call was not admitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The user's calls-per-minute are used up.
    RateLimited {
        per_minute: u32,
        retry_after: Duration,
    },
    /// The agent already runs its maximum of concurrent calls.
    AgentBusy { limit: u32 },
    /// No engine slot freed up within the queue timeout.
    Overloaded { waited: Duration },
}

impl Refusal {
    /// When to try again.
    pub fn retry_after(&self) -> Duration {
        match self {
            Refusal::RateLimited { retry_after, .. } => *retry_after,
            Refusal::AgentBusy { .. } => Duration::from_secs(1),
            Refusal::Overloaded { .. } => Duration::from_secs(5),
        }
    }

    /// `rate_limited`, `agent_busy`, `overloaded`.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::AgentBusy { .. } => "agent_busy",
            Refusal::Overloaded { .. } => "overloaded",
        }
    }

    /// What to tell the caller.
    pub fn message(&self, tool: &str) -> String {
        let secs = self.retry_after().as_secs_f64().ceil().max(1.0) as u64;
        match self {
            Refusal::RateLimited { per_minute, .. } => format!(
                "Rate limit reached: at most {per_minute} tool calls a minute per user. \
                 Try again in {secs} s."
            ),
            Refusal::AgentBusy { limit } => format!(
                "Tool '{tool}' is busy: it already runs {limit} calls at once. Try again in a moment."
            ),
            Refusal::Overloaded { waited } => format!(
                "The gateway is at capacity (no engine slot freed up in {} s). Try again in {secs} s.",
                waited.as_secs()
            ),
        }
    }
}

/// Held for the duration of an engine call.
pub struct Permits {
    _agent: Option<OwnedSemaphorePermit>,
    _engine: OwnedSemaphorePermit,
}

pub struct Limits {
    per_user: Option<(u32, DefaultKeyedRateLimiter<Uuid>)>,
    agent_concurrency: Option<u32>,
    agents: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
    engine: Arc<Semaphore>,
    max_inflight: u32,
    queue_timeout: Duration,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        let per_user = config
            .calls_per_minute
            .and_then(NonZeroU32::new)
            .map(|n| (n.get(), RateLimiter::keyed(Quota::per_minute(n))));
        let max_inflight = config.max_inflight_calls.max(1);
        Self {
            per_user,
            agent_concurrency: config.agent_concurrency.filter(|n| *n > 0),
            agents: Mutex::new(HashMap::new()),
            engine: Arc::new(Semaphore::new(max_inflight as usize)),
            max_inflight,
            queue_timeout: config.queue_timeout,
        }
    }

    /// Count one call against the user's rate.
    pub fn check_rate(&self, user: Uuid) -> Result<(), Refusal> {
        let Some((per_minute, limiter)) = &self.per_user else {
            return Ok(());
        };
        limiter
            .check_key(&user)
            .map_err(|not_until| Refusal::RateLimited {
                per_minute: *per_minute,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// A slot for the agent (refused at once when it is full) and an engine
    /// slot (waited for, up to the queue timeout).
    pub async fn acquire(&self, agent: Uuid) -> Result<Permits, Refusal> {
        let agent_permit = match self.agent_concurrency {
            None => None,
            Some(limit) => {
                let semaphore = match self.agents.lock() {
                    Ok(mut agents) => agents
                        .entry(agent)
                        .or_insert_with(|| Arc::new(Semaphore::new(limit as usize)))
                        .clone(),
                    Err(_) => Arc::new(Semaphore::new(limit as usize)),
                };
                Some(
                    semaphore
                        .try_acquire_owned()
                        .map_err(|_| Refusal::AgentBusy { limit })?,
                )
            }
        };
        let engine = match self.engine.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout(self.queue_timeout, self.engine.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(Refusal::Overloaded {
                    waited: self.queue_timeout,
                })?,
        };
        Ok(Permits {
            _agent: agent_permit,
            _engine: engine,
        })
    }

    pub fn engine_calls_in_flight(&self) -> usize {
        (self.max_inflight as usize).saturating_sub(self.engine.available_permits())
    }

    /// Forget idle state (rate-limit keys, per-agent semaphores).
    pub fn prune(&self) {
        if let Some((_, limiter)) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let (Some(limit), Ok(mut agents)) = (self.agent_concurrency, self.agents.lock()) {
            agents
                .retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < limit as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per_minute: Option<u32>, agent: Option<u32>, inflight: u32) -> LimitsConfig {
        LimitsConfig {
            calls_per_minute: per_minute,
            agent_concurrency: agent,
            max_inflight_calls: inflight,
            queue_timeout: Duration::from_millis(50),
            max_body_bytes: 1024,
        }
    }

    #[test]
    fn the_rate_is_per_user() {
        let limits = Limits::new(&config(Some(2), None, 10));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(limits.check_rate(a).is_ok());
        assert!(limits.check_rate(a).is_ok());
        let refused = limits.check_rate(a).expect_err("third call");
        assert_eq!(refused.kind(), "rate_limited");
        assert!(refused.retry_after() > Duration::ZERO);
        assert!(refused.retry_after() <= Duration::from_secs(30));
        assert!(
            refused
                .message("t")
                .starts_with("Rate limit reached: at most 2 tool calls a minute")
        );
        assert!(
            limits.check_rate(b).is_ok(),
            "another user has their own budget"
        );
        assert!(Limits::new(&config(None, None, 1)).check_rate(a).is_ok());
    }

    #[tokio::test]
    async fn agents_and_the_engine_pool_are_capped() {
        let limits = Limits::new(&config(None, Some(1), 2));
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        let first = limits.acquire(x).await.expect("slot");
        assert_eq!(
            limits.acquire(x).await.err(),
            Some(Refusal::AgentBusy { limit: 1 })
        );
        let second = limits.acquire(y).await.expect("other agent");
        assert_eq!(limits.engine_calls_in_flight(), 2);
        let z = Uuid::new_v4();
        assert!(matches!(
            limits.acquire(z).await.err(),
            Some(Refusal::Overloaded { .. })
        ));
        drop(first);
        let third = limits.acquire(z).await.expect("a slot freed up");
        drop((second, third));
        assert_eq!(limits.engine_calls_in_flight(), 0);
        limits.prune();
        assert!(limits.agents.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_waiting_call_gets_the_next_free_slot() {
        let limits = Arc::new(Limits::new(&LimitsConfig {
            queue_timeout: Duration::from_secs(5),
            ..config(None, None, 1)
        }));
        let held = limits.acquire(Uuid::new_v4()).await.expect("slot");
        let waiter = {
            let limits = limits.clone();
            tokio::spawn(async move { limits.acquire(Uuid::new_v4()).await.is_ok() })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.expect("join"));
    }
}
