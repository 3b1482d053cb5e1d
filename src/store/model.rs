//! Domain types the store reads and writes. Both backends map their rows to these.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A string-backed enum with a fixed set of database values.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{}' is not one of: {}",
                        other.chars().take(64).collect::<String>(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

db_enum!(
    /// A user's role: admins manage the marketplace through the admin API.
    Role { User => "user", Admin => "admin" }
);

db_enum!(
    /// The workflow engine an agent runs in (`CHECK engine_type IN ('flowise','activepieces')`).
    EngineType { Flowise => "flowise", Activepieces => "activepieces" }
);

db_enum!(
    /// Lifecycle of a marketplace listing; only `published` agents are tools.
    AgentStatus { Draft => "draft", Published => "published", Archived => "archived" }
);

db_enum!(
    /// How a user came to be allowed to use a priced agent.
    EntitlementKind { OneTime => "one_time", Monthly => "monthly", Free => "free", Grant => "grant" }
);

db_enum!(
    /// How an agent's calls run for MCP clients with the Tasks extension:
    /// `never` inline, `auto` inline when done within a short budget and as
    /// a task otherwise, `always` as a task.
    TaskMode { Never => "never", Auto => "auto", Always => "always" }
);

// `db_enum!` variants take no attributes, so no `#[default]`.
#[allow(clippy::derivable_impls)]
/// `auto`: a long flow becomes a task for the clients that can take one
/// (migration 0018); others are answered inline.
impl Default for TaskMode {
    fn default() -> Self {
        TaskMode::Auto
    }
}

db_enum!(
    /// The Shadow Journal's states: pending → running → success | failed.
    ExecutionStatus { Pending => "pending", Running => "running", Success => "success", Failed => "failed" }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub plan: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

db_enum! {
    /// What became of the engine's copy of a call that carried credentials.
    EngineCopy { Pending => "pending", Purged => "purged", Kept => "kept" }
}

/// An OAuth identity (an account at an authorization server) of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub user_id: Uuid,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An OAuth identity to link to a user.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub issuer: String,
    pub subject: String,
    pub user_id: Uuid,
    pub email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub plan: String,
    /// Credits the new account starts with (a `signup` ledger entry).
    pub initial_credits: i64,
}

/// An API key's metadata. The key itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    /// Lower-case hex SHA-256 of the full key.
    pub key_hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub tool_name: String,
    pub description: String,
    pub engine_type: EngineType,
    pub engine_flow_id: String,
    pub input_schema: Value,
    pub required_credential_types: Vec<String>,
    pub price_one_time: Option<Decimal>,
    pub price_monthly: Option<Decimal>,
    pub credits_per_call: i32,
    pub status: AgentStatus,
    /// Engine-specific request mapping (e.g. `{"input_mode": "form"}` for Flowise).
    pub engine_config: Value,
    /// Call timeout overriding the engine's default.
    pub timeout_ms: Option<i32>,
    /// Charge `credits_per_call` for calls the engine failed (default: no).
    pub charge_failed_calls: bool,
    /// How its calls run for MCP clients with the Tasks extension.
    pub task_mode: TaskMode,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub name: String,
    pub tool_name: String,
    pub description: String,
    pub engine_type: EngineType,
    pub engine_flow_id: String,
    pub input_schema: Value,
    pub required_credential_types: Vec<String>,
    pub price_one_time: Option<Decimal>,
    pub price_monthly: Option<Decimal>,
    pub credits_per_call: i32,
    pub status: AgentStatus,
    pub engine_config: Value,
    pub timeout_ms: Option<i32>,
    pub charge_failed_calls: bool,
    pub task_mode: TaskMode,
}

/// A partial update of an agent; `None` leaves a column as it is.
/// Prices use `Some(None)` to clear.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub tool_name: Option<String>,
    pub description: Option<String>,
    pub engine_type: Option<EngineType>,
    pub engine_flow_id: Option<String>,
    pub input_schema: Option<Value>,
    pub required_credential_types: Option<Vec<String>>,
    pub price_one_time: Option<Option<Decimal>>,
    pub price_monthly: Option<Option<Decimal>>,
    pub credits_per_call: Option<i32>,
    pub status: Option<AgentStatus>,
    pub engine_config: Option<Value>,
    pub timeout_ms: Option<Option<i32>>,
    pub charge_failed_calls: Option<bool>,
    pub task_mode: Option<TaskMode>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub status: Option<AgentStatus>,
    pub engine_type: Option<EngineType>,
    /// Case-insensitive substring of name or tool_name.
    pub name_contains: Option<String>,
    /// Keyset cursor: agents whose tool_name sorts after this.
    pub after_tool_name: Option<String>,
    pub limit: Option<u32>,
}

/// A sealed credential row as stored. Only the Vault turns it into plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub key_name: String,
    /// base64 ciphertext + GCM tag.
    pub encrypted_value: String,
    /// base64 96-bit nonce.
    pub iv: String,
    pub key_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for CredentialRow {
    // Even sealed bytes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("provider", &self.provider)
            .field("key_name", &self.key_name)
            .field("key_version", &self.key_version)
            .field("encrypted_value", &"<sealed>")
            .finish_non_exhaustive()
    }
}

/// One master-key version registered in `vault_meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKeyRow {
    pub key_version: i32,
    pub key_fingerprint: String,
    pub canary: String,
    pub canary_iv: String,
    pub created_at: DateTime<Utc>,
}

/// A credential re-sealed under a new key version during rotation. The update
/// applies only if the row still holds the nonce it was read with (a
/// concurrent `put` wins).
#[derive(Clone)]
pub struct ResealedCredential {
    pub id: Uuid,
    pub old_iv: String,
    pub encrypted_value: String,
    pub iv: String,
    pub key_version: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionLog {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub status: ExecutionStatus,
    pub external_execution_id: Option<String>,
    pub input_snapshot: Option<Value>,
    pub output_snapshot: Option<Value>,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
    /// Credits held while the call runs (released or charged when it ends).
    pub credits_reserved: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The engine-side copy of a call that carried credentials (`None`:
    /// there is none).
    pub engine_copy: Option<EngineCopy>,
}

/// A purge of one call's engine-side records, due at `next_attempt_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPurge {
    pub execution_log_id: Uuid,
    pub engine_type: EngineType,
    pub target: Value,
    pub next_attempt_at: DateTime<Utc>,
}

/// A purge job (`engine_purges`).
#[derive(Debug, Clone, PartialEq)]
pub struct Purge {
    pub execution_log_id: Uuid,
    pub engine_type: EngineType,
    pub target: Value,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewExecutionLog {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub status: ExecutionStatus,
    pub input_snapshot: Option<Value>,
}

/// How a call ended; written once, from `pending`/`running` only.
#[derive(Debug, Clone)]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    pub external_execution_id: Option<String>,
    pub output_snapshot: Option<Value>,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
    pub error: Option<String>,
}

/// One Shadow Journal write. Batches of these are committed together.
#[derive(Debug, Clone)]
pub enum JournalOp {
    /// Reserve `reserve` credits and insert the row (`running`) before the
    /// engine is called. If the user's available credits do not cover
    /// `reserve`, the row is recorded `failed` instead (insufficient credits).
    Start { row: NewExecutionLog, reserve: i32 },
    /// Insert a row that is already finished (a call refused before the engine).
    Record(NewExecutionLog, ExecutionOutcome),
    /// Finish a `pending`/`running` row and settle the credits it reserved:
    /// the outcome's `credits_consumed` (capped at the row's
    /// `credits_reserved`) becomes a ledger debit referencing the row, the
    /// rest is released. A row already finished changes nothing.
    Finish {
        id: Uuid,
        user_id: Uuid,
        outcome: ExecutionOutcome,
    },
}

/// What a journal op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalResult {
    /// Written (and, for `Finish`, settled).
    Applied,
    /// A `Finish` of a row that was already finished: nothing changed.
    Unchanged,
    /// A `Start` whose credits were not available: recorded as failed.
    InsufficientCredits { available: i64 },
}

/// Which unfinished rows belong to processes that are gone.
#[derive(Debug, Clone)]
pub struct Orphans {
    /// This process: its rows are never touched.
    pub me: Option<Uuid>,
    /// A replica whose last heartbeat is older than this is gone.
    pub dead_before: DateTime<Utc>,
    /// Rows without a replica (written before replicas were recorded, or by
    /// tools) count as orphaned once created before this.
    pub legacy_before: DateTime<Utc>,
}

/// An Easy Mode form as a person last sent it (post/redirect/get).
#[derive(Debug, Clone, PartialEq)]
pub struct FormDraft {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tool_name: String,
    /// What the web app needs to show the form again (its fields, its
    /// result); its shape is the web app's.
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A signed-in browser of the web app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 (hex) of the cookie's value; the value is never stored.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A running gateway process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub id: Uuid,
    pub hostname: String,
    pub version: String,
    /// `linux:<boot id>:<pid namespace>:<pid>`, when the process could tell.
    pub process: Option<String>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

/// Connections of the store's pool(s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// A user's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CreditAccount {
    pub balance: i64,
    /// Held by calls in flight.
    pub reserved: i64,
}

impl CreditAccount {
    pub fn available(&self) -> i64 {
        self.balance - self.reserved
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub user_id: Uuid,
    pub delta: i64,
    pub reason: String,
    pub execution_log_id: Option<Uuid>,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entitlement {
    pub id: Uuid,
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub kind: EntitlementKind,
    pub starts_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    /// What was paid, for revenue reports.
    pub price: Option<Decimal>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Entitlement {
    /// In force at `now`: not revoked, started, not expired.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none()
            && self.starts_at <= now
            && self.expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone)]
pub struct NewEntitlement {
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub kind: EntitlementKind,
    pub starts_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub price: Option<Decimal>,
    /// Also add the agent to the user's toolbox, in the same transaction
    /// (`catalog.toolbox_add_purchases`).
    pub join_toolbox: bool,
}

/// One paid entitlement, for revenue reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RevenueSample {
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub price: Decimal,
}

#[derive(Debug, Clone, Default)]
pub struct ExecutionLogFilter {
    pub user_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub status: Option<ExecutionStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor (newest first): rows strictly older than (created_at, id).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: Option<u32>,
}

/// Where the schema stands relative to the migrations built into this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied in the database, ascending.
    pub applied: Vec<i64>,
    /// Versions this binary knows, ascending.
    pub known: Vec<i64>,
}

impl MigrationStatus {
    pub fn pending(&self) -> Vec<i64> {
        self.known
            .iter()
            .copied()
            .filter(|v| !self.applied.contains(v))
            .collect()
    }
    /// Applied versions this binary does not know: the database is newer than us.
    pub fn unknown(&self) -> Vec<i64> {
        self.applied
            .iter()
            .copied()
            .filter(|v| !self.known.contains(v))
            .collect()
    }
    pub fn is_current(&self) -> bool {
        self.pending().is_empty() && self.unknown().is_empty()
    }
}

/// A partial update of a user.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<Option<String>>,
    pub role: Option<Role>,
    pub plan: Option<String>,
    /// `Some(true)` disables the user now, `Some(false)` enables them again.
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    /// `user:<email>`, `admin-token` or `cli`.
    pub actor: String,
    /// e.g. `agent.create`, `user.disable`, `credential.put`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor_user_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: Value,
}

/// One finished call, for usage reports.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSample {
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub status: ExecutionStatus,
    pub duration_ms: Option<i32>,
    pub credits_consumed: i32,
}

/// A change to the agent catalog, applied with others in one transaction.
#[derive(Debug, Clone)]
pub enum AgentChange {
    Create(NewAgent),
    Update(Uuid, AgentPatch),
}
