//! Embedded SQLite backend (the zero-setup default, `sqlite://vieagent.db`).
//!
//! WAL mode, foreign keys on. All writes go through a single-connection
//! writer pool, so writers queue in-process instead of contending for
//! SQLite's lock (no `SQLITE_BUSY` storms under load); reads use a separate
//! pool and proceed concurrently with the writer. The Shadow Journal's
//! batches run on a connection of their own while holding the writer's
//! (see `journal::JournalConn`): still one writer at a time.
//! One file per aggregate, beside the same file of the PostgreSQL backend.

/// SQL expression for "now" in the stored timestamp format.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

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
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use crate::store::{
    Backend, Database, MigrationStatus, PoolStats, StoreError, StoreResult, known_versions,
    page_limit, refuse_newer_schema,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The Shadow Journal's batches (see [`journal::JournalConn`]).
    journal: Arc<journal::JournalConn>,
    replica: std::sync::OnceLock<Uuid>,
    /// Stops the background checkpointer on `close`.
    checkpointer: tokio_util::sync::CancellationToken,
    /// ... and when the store is dropped.
    _checkpointer_guard: tokio_util::sync::DropGuard,
}

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The writer's own automatic checkpoint (pages; SQLite's default is
/// 1,000). Under steady writes the WAL can only restart from its beginning
/// after a checkpoint that finds nothing left to copy, which the writer's
/// own checkpoint does: by then the background one has copied almost every
/// frame, so it is cheap, and it bounds the WAL at ~16 MiB.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "4096";

impl SqliteStore {
    /// Open (creating if missing) the database file named by a `sqlite:` URL.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid sqlite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a process
            // crash; only an OS crash/power loss can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // Checkpoints (copying the WAL into the database, with an fsync) run
        // in the background on a connection of their own: left to the
        // writer, one commit in ~100 paid for one, and that was the calls'
        // p99.
        // Every commit of the writer wakes the checkpointer (an idle
        // gateway does not wake it at all).
        let wrote = Arc::new(tokio::sync::Notify::new());
        let hook = wrote.clone();
        let writer = pool_options(1, 1)
            .after_connect(move |conn, _| {
                let hook = hook.clone();
                Box::pin(async move {
                    conn.lock_handle().await?.set_commit_hook(move || {
                        hook.notify_one();
                        true // commit (false would turn it into a rollback)
                    });
                    Ok(())
                })
            })
            .connect_with(
                base.clone()
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
                    // After a burst, the WAL file shrinks back to 32 MiB once
                    // checkpointed instead of keeping its largest size.
                    .pragma("journal_size_limit", "33554432"),
            )
            .await?;
        let reader = pool_options(max_connections.max(1), 0)
            .connect_with(base.clone().create_if_missing(false))
            .await?;
        let journal = {
            let path = base.get_filename().to_path_buf();
            let wrote = wrote.clone();
            tokio::task::spawn_blocking(move || {
                journal::JournalConn::open(&path, wrote, BUSY_TIMEOUT, WRITER_AUTOCHECKPOINT_PAGES)
            })
            .await
            .map_err(|e| StoreError::Database(format!("opening the journal connection: {e}")))??
        };
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(checkpoint_loop(
            base.create_if_missing(false),
            wrote,
            stop.clone(),
        ));
        Ok(Self {
            writer,
            reader,
            journal: Arc::new(journal),
            replica: std::sync::OnceLock::new(),
            checkpointer: stop.clone(),
            _checkpointer_guard: stop.drop_guard(),
        })
    }
}

/// What the writer and reader pools share.
fn pool_options(max: u32, min: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(min)
        .acquire_timeout(Duration::from_secs(30))
        // No ping per acquire (sqlx's default): a round trip to the
        // connection's thread, for a file that cannot hang up.
        .test_before_acquire(false)
}

/// Copy committed WAL frames into the database [`CHECKPOINT_EVERY`] after
/// the writer commits (PASSIVE: never waits for, nor blocks, readers or the
/// writer), on a connection of its own, reopened after a failure. Nothing
/// written, nothing to do: it sleeps until `wrote` wakes it.
async fn checkpoint_loop(
    options: SqliteConnectOptions,
    wrote: Arc<tokio::sync::Notify>,
    stop: tokio_util::sync::CancellationToken,
) {
    use sqlx::Connection;
    let mut conn: Option<sqlx::SqliteConnection> = None;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wrote.notified() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        // The connection is put back only after a checkpoint that worked;
        // after a failure the next round opens a new one.
        let attempt = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => sqlx::SqliteConnection::connect_with(&options).await?,
            };
            let row = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut c)
                .await?;
            conn = Some(c);
            Ok::<_, sqlx::Error>(row)
        };
        match attempt.await {
            Ok((_, wal_frames, _)) => {
                failures = 0;
                metrics::gauge!("vieagent_sqlite_wal_frames").set(wal_frames as f64);
            }
            Err(e) => {
                failures += 1;
                // Once in a while is harmless (the writer's own checkpoint
                // is the backstop); a run of them is worth a look.
                if failures % 50 == 10 {
                    tracing::warn!(error = %e, failures, "background WAL checkpoints keep failing");
                } else {
                    tracing::debug!(error = %e, "background WAL checkpoint failed");
                }
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// Timestamps are stored as UTC ISO-8601 with milliseconds and `Z`, the same
/// format as the schema's `strftime('%Y-%m-%dT%H:%M:%fZ','now')` defaults, so
/// text order is time order.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// DECIMAL(10,2) as canonical text: rounded like PostgreSQL, always 2 places.
fn decimal_text(value: Option<Decimal>) -> Option<String> {
    value.map(|d| {
        let mut d =
            d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        d.rescale(2);
        d.to_string()
    })
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn opt_json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(json_text)
}

/// Keyset paging, newest first: the rows before the `(created_at, id)`
/// cursor, at most `limit` (clamped, see [`page_limit`]).
fn newest_first(
    q: &mut QueryBuilder<sqlx::Sqlite>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: Option<u32>,
) {
    if let Some((at, id)) = before {
        q.push(" AND (created_at, id) < (")
            .push_bind(ts(at))
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(page_limit(limit));
}

#[async_trait]
impl Database for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let before = self.migration_status().await?;
        refuse_newer_schema(&before)?;
        MIGRATOR.run(&self.writer).await?;
        Ok(before.pending())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.reader)
        .await?;
        let applied = if exists > 0 {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.reader)
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
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.cancel();
        self.reader.close().await;
        self.writer.close().await;
        self.journal.close();
    }

    fn pool_stats(&self) -> PoolStats {
        let idle = self.reader.num_idle() + self.writer.num_idle();
        PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Committed pages reach the database file in the background, without
    /// the writer paying for a checkpoint (its own threshold is far away).
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ckpt.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .expect("connect");
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        // ~2 MB of pages: below the writer's 4,096-page threshold.
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&store.writer)
            .await
            .expect("create");
        sqlx::query("INSERT INTO filler VALUES (randomblob(2000000))")
            .execute(&store.writer)
            .await
            .expect("insert");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() < before + 2_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never received the WAL's pages ({} bytes)",
                size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
    }
}
