//! PostgreSQL backend: the seed schema with native types (UUID, JSONB, TEXT[],
//! DECIMAL(10,2), TIMESTAMPTZ). For production and multi-replica deployments.
//! One file per aggregate, beside the same file of the SQLite backend.

mod accounts;
mod audit;
mod billing;
mod cancels;
mod catalog;
mod journal;
mod marketplace;
mod purges;
mod replicas;
mod toolbox;
mod vault_rows;
mod web;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, QueryBuilder};
use uuid::Uuid;

use crate::store::{
    Backend, Database, MigrationStatus, PoolStats, StoreError, StoreResult, known_versions,
    page_limit, refuse_newer_schema,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

pub struct PgStore {
    pool: PgPool,
    replica: std::sync::OnceLock<Uuid>,
}

impl PgStore {
    /// Open a pool and check the server answers.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("vieagent");
        // On a loopback host, `prefer` (the default) buys no privacy but costs
        // ~90 ms per connection: sqlx negotiates TLS without TCP_NODELAY, and
        // the handshake's small writes wait on delayed ACKs. Without an
        // explicit `sslmode`, talk plain TCP to a local server.
        if !url.contains("sslmode=") && is_loopback(options.get_host()) {
            options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
        }
        // One direct connection first: it fails fast with the real reason
        // (refused, auth, unknown database) instead of a pool timeout.
        let probe = PgConnection::connect_with(&options).await?;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: one more
            // round trip per acquire, i.e. per journal batch. A connection
            // in use a moment ago is alive; one idle for a while may have
            // been cut (server restart, failover, a proxy's idle timeout)
            // and is pinged first, and replaced if it does not answer.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < PING_IF_IDLE_FOR {
                        return Ok(true);
                    }
                    match conn.ping().await {
                        Ok(()) => Ok(true),
                        Err(e) => {
                            tracing::debug!(error = %e, idle_for = ?meta.idle_for, "idle connection did not answer a ping; replacing it");
                            Ok(false)
                        }
                    }
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            replica: std::sync::OnceLock::new(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `localhost`, a loopback address, or a Unix socket directory.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Keyset paging, newest first: the rows before the `(created_at, id)`
/// cursor, at most `limit` (clamped, see [`page_limit`]).
fn newest_first(
    q: &mut QueryBuilder<sqlx::Postgres>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: Option<u32>,
) {
    if let Some((at, id)) = before {
        q.push(" AND (created_at, id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(page_limit(limit));
}

#[async_trait]
impl Database for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let before = self.migration_status().await?;
        refuse_newer_schema(&before)?;
        MIGRATOR.run(&self.pool).await?;
        Ok(before.pending())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(MigrationStatus {
            applied,
            known: known_versions(&MIGRATOR),
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}

impl PgStore {
    /// LISTEN on `channel` until `stop`, reconnecting with backoff. `on`
    /// gets each notification's payload, and `None` once (re)connected
    /// (changes made while not listening were missed); it returns `false`
    /// to stop.
    async fn listen<F, Fut>(&self, channel: &str, stop: &tokio_util::sync::CancellationToken, on: F)
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut delay = Duration::from_millis(200);
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
                l.listen(channel).await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match listener {
                Ok(mut l) => {
                    delay = Duration::from_millis(200);
                    if !on(None).await {
                        return;
                    }
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            n = l.try_recv() => match n {
                                Ok(Some(n)) => {
                                    if !on(Some(n.payload().to_string())).await {
                                        return;
                                    }
                                }
                                Ok(None) | Err(_) => break, // connection lost: reconnect
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, channel, "LISTEN failed; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_local_hosts_count_as_loopback() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["db.example.com", "10.0.0.5", "postgres", "2001:db8::1"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
