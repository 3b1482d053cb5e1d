//! Persistence behind one [`Store`] trait, one module per backend:
//! [`sqlite`] (embedded default) and [`postgres`] (production, multi-replica).
//!
//! The store owns SQL, transactions and row ↔ domain mapping. It holds no
//! business rules: those live in the call pipeline and the admin API.
//!
//! [`Store`] is the sum of one trait per aggregate, each in its own file
//! here and implemented in the file of the same name in each backend:
//!
//! | aggregate | trait | |
//! |---|---|---|
//! | [`accounts`] | [`AccountStore`] | users, API keys |
//! | [`catalog`] | [`CatalogStore`] | agents, catalog change tracking |
//! | [`vault_rows`] | [`VaultStore`] | sealed credentials, master-key versions |
//! | [`journal`] | [`JournalStore`] | execution logs and the credits they hold and spend |
//! | [`billing`] | [`BillingStore`] | entitlements, usage and revenue samples |
//! | [`audit`] | [`AuditStore`] | the admin audit log |
//! | [`replicas`] | [`ReplicaStore`] | the gateway processes sharing the database |
//! | [`web`] | [`WebStore`] | the web app's sessions, connect-link uses |
//! | [`marketplace`] | [`MarketplaceStore`] | marketplace events, applied once with their change |
//! | here | [`Database`] | schema, health, pool |
//!
//! Shared by both backends: the row decoders (`row`), the column lists and
//! fetch helpers (`sql`), the credit planner (`credits`), the domain
//! types (`model`) and the record of an input schema's field order that
//! PostgreSQL's `jsonb` would lose (`schema_order`).

// First: the column-list macros are used by the modules below.
#[macro_use]
mod sql;

pub mod accounts;
pub mod audit;
pub mod billing;
pub mod cancels;
pub mod catalog;
pub(crate) mod credits;
mod error;
pub mod journal;
pub mod marketplace;
mod model;
pub mod postgres;
pub mod purges;
pub mod replicas;
mod row;
pub mod schema_order;
pub mod sqlite;
pub mod toolbox;
pub mod vault_rows;
pub mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::ExposeSecret;

pub use accounts::AccountStore;
pub use audit::AuditStore;
pub use billing::BillingStore;
pub use cancels::CancelStore;
pub use catalog::CatalogStore;
pub use error::{StoreError, StoreResult};
pub use journal::JournalStore;
pub use marketplace::{
    EventApplication, MarketplaceChange, MarketplaceEffect, MarketplaceEventRow, MarketplaceStore,
};
pub use model::*;
pub use purges::PurgeStore;
pub use replicas::ReplicaStore;
pub use toolbox::{AgentSearch, ToolboxStore};
pub use vault_rows::VaultStore;
pub use web::WebStore;

use crate::config::{Config, ConfigError, DatabaseKind, redact_url};

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database itself: schema, health, connections.
#[async_trait]
pub trait Database: Send + Sync {
    fn backend(&self) -> Backend;
    /// Apply pending migrations. Refuses when the database is newer than this binary.
    /// Returns the versions applied by this call.
    async fn migrate(&self) -> StoreResult<Vec<i64>>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    /// A cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Pool connections open and idle (for metrics).
    fn pool_stats(&self) -> PoolStats;
    /// Close the pool(s), waiting for connections to be returned.
    async fn close(&self);
}

/// Everything the product persists: every aggregate's trait. Implemented by
/// [`sqlite::SqliteStore`] and [`postgres::PgStore`]; the same story test
/// suite runs against both. Callers holding a `dyn Store` call any
/// aggregate's methods; a part that needs one aggregate only can take that
/// trait (as the journal writer takes [`JournalStore`]).
pub trait Store:
    Database
    + AccountStore
    + CatalogStore
    + VaultStore
    + JournalStore
    + BillingStore
    + AuditStore
    + ReplicaStore
    + WebStore
    + PurgeStore
    + CancelStore
    + MarketplaceStore
    + ToolboxStore
    + 'static
{
}

impl<T> Store for T where
    T: Database
        + AccountStore
        + CatalogStore
        + VaultStore
        + JournalStore
        + BillingStore
        + AuditStore
        + ReplicaStore
        + WebStore
        + PurgeStore
        + CancelStore
        + MarketplaceStore
        + ToolboxStore
        + 'static
{
}

pub type DynStore = Arc<dyn Store>;

/// Why [`connect`] failed. The store's own error: the crate-wide HTTP error
/// converts it (a configuration mistake stays one, exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not reach the database at {url} within {within} (db_connect_timeout): {reason}")]
    Unreachable {
        url: String,
        within: String,
        reason: String,
    },
    #[error("could not open the database at {url}: {source}")]
    Open { url: String, source: StoreError },
}

/// Connect to the configured database, retrying with backoff while it is
/// unreachable, for at most `config.db_connect_timeout`.
pub async fn connect(config: &Config) -> Result<DynStore, ConnectError> {
    let kind = config.database_kind()?;
    let url = config.database_url.expose_secret();
    let deadline = Instant::now() + config.db_connect_timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt: StoreResult<DynStore> = match kind {
            DatabaseKind::Sqlite => sqlite::SqliteStore::connect(url, config.db_max_connections)
                .await
                .map(|s| Arc::new(s) as DynStore),
            DatabaseKind::Postgres => postgres::PgStore::connect(url, config.db_max_connections)
                .await
                .map(|s| Arc::new(s) as DynStore),
        };
        match attempt {
            Ok(store) => return Ok(store),
            Err(StoreError::Unavailable(reason)) if Instant::now() + delay < deadline => {
                tracing::warn!(
                    database = %redact_url(url),
                    %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "database unreachable, retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(StoreError::Unavailable(reason)) => {
                return Err(ConnectError::Unreachable {
                    url: redact_url(url),
                    within: humantime::format_duration(config.db_connect_timeout).to_string(),
                    reason,
                });
            }
            Err(source) => {
                return Err(ConnectError::Open {
                    url: redact_url(url),
                    source,
                });
            }
        }
    }
}

/// Versions of a migrator's embedded migrations, ascending.
pub(crate) fn known_versions(migrator: &sqlx::migrate::Migrator) -> Vec<i64> {
    let mut v: Vec<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Shared guard used by both backends before running migrations.
pub(crate) fn refuse_newer_schema(status: &MigrationStatus) -> StoreResult<()> {
    let unknown = status.unknown();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(StoreError::SchemaTooNew {
            unknown,
            binary: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// Clamp a caller-supplied page size.
pub(crate) fn page_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(100).clamp(1, 1000))
}
