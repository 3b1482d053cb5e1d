//! Typed store failures, the same on both backends.

pub type StoreResult<T> = Result<T, StoreError>;

/// Typed store failures. Constraint violations carry the constraint's stable
/// name (the same on both backends, e.g. `agents_tool_name_key`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("already exists ({constraint})")]
    UniqueViolation { constraint: String },
    #[error("refers to a row that does not exist ({constraint})")]
    ForeignKeyViolation { constraint: String },
    #[error("violates check constraint {constraint}")]
    CheckViolation { constraint: String },
    #[error("a required value is missing ({constraint})")]
    NotNullViolation { constraint: String },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("not enough credits ({available} available)")]
    InsufficientCredits { available: i64 },
    #[error(
        "the database schema is newer than this binary (database has migrations {unknown:?} \
         that this vieagent {binary} does not know); upgrade vieagent or use the matching database"
    )]
    SchemaTooNew {
        unknown: Vec<i64>,
        binary: &'static str,
    },
    #[error(
        "the database schema is not up to date (pending migrations {pending:?}); run `vieagent migrate`"
    )]
    SchemaPending { pending: Vec<i64> },
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound { entity: "row" },
            sqlx::Error::Database(db) => {
                let constraint = constraint_name(db.as_ref());
                match db.kind() {
                    ErrorKind::UniqueViolation => StoreError::UniqueViolation { constraint },
                    ErrorKind::ForeignKeyViolation => {
                        StoreError::ForeignKeyViolation { constraint }
                    }
                    ErrorKind::CheckViolation => StoreError::CheckViolation { constraint },
                    ErrorKind::NotNullViolation => StoreError::NotNullViolation { constraint },
                    _ => StoreError::Database(db.message().to_string()),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
            sqlx::Error::Migrate(m) => StoreError::Migration(m.to_string()),
            _ => StoreError::Database(err.to_string()),
        }
    }
}

/// The SQLite journal's own connection (src/store/sqlite/journal.rs): the
/// same typed failures as through sqlx (constraints by kind and name, the
/// rest `Database`).
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        let rusqlite::Error::SqliteFailure(failure, message) = &err else {
            return StoreError::Database(err.to_string());
        };
        let message = message.clone().unwrap_or_else(|| failure.to_string());
        if failure.code != rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Database(message);
        }
        let constraint = sqlite_constraint_name(&message);
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::UniqueViolation { constraint }
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::ForeignKeyViolation { constraint },
            ffi::SQLITE_CONSTRAINT_CHECK => StoreError::CheckViolation { constraint },
            ffi::SQLITE_CONSTRAINT_NOTNULL => StoreError::NotNullViolation { constraint },
            _ => StoreError::Database(message),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError;
        match err {
            MigrateError::Execute(e) => StoreError::from(e),
            MigrateError::VersionMismatch(v) => StoreError::Migration(format!(
                "migration {v} was changed after it was applied to this database; \
                 applied migrations must never be edited"
            )),
            other => StoreError::Migration(other.to_string()),
        }
    }
}

/// The constraint's name: PostgreSQL reports it; SQLite puts it (or the
/// columns of a UNIQUE) in the message, which we map to PostgreSQL's naming.
fn constraint_name(db: &dyn sqlx::error::DatabaseError) -> String {
    match db.constraint() {
        Some(name) => name.to_string(),
        None => sqlite_constraint_name(db.message()),
    }
}

/// SQLite's constraint, from its message, in PostgreSQL's naming.
fn sqlite_constraint_name(message: &str) -> String {
    // SQLite: "UNIQUE constraint failed: agents.tool_name",
    //         "CHECK constraint failed: agents_engine_type_check",
    //         "FOREIGN KEY constraint failed", "NOT NULL constraint failed: t.c".
    let detail = message
        .split_once("constraint failed: ")
        .map(|(_, d)| d.trim())
        .unwrap_or("");
    if message.starts_with("UNIQUE") && !detail.is_empty() {
        // "t.a, t.b" → "t_a_b_key", PostgreSQL's default unique-constraint name.
        let mut table = "";
        let cols: Vec<&str> = detail
            .split(',')
            .map(|c| {
                let c = c.trim();
                match c.split_once('.') {
                    Some((t, col)) => {
                        table = t;
                        col
                    }
                    None => c,
                }
            })
            .collect();
        return format!("{table}_{}_key", cols.join("_"));
    }
    if message.starts_with("NOT NULL") && !detail.is_empty() {
        return detail.replace('.', "_") + "_not_null";
    }
    if !detail.is_empty() {
        return detail.to_string();
    }
    if message.starts_with("FOREIGN KEY") {
        return "foreign_key".to_string();
    }
    "unknown".to_string()
}
