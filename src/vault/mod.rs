//! The Vault: users' provider credentials (OpenAI, Anthropic, Google, …),
//! sealed with AES-256-GCM under a versioned master key, opened only at call
//! time, in memory, for the engine call.
//!
//! Key check: the database keeps one encrypted canary per key version
//! (`vault_meta`). At start the configured master key must open its canary,
//! otherwise the server refuses to start. Rotation re-seals every credential
//! under a new key version, batch by batch, resumably.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

pub use crate::crypto::{CredentialAad, CryptoError, Keyring, MasterKey, Sealed};

use crate::config::{Config, DatabaseKind};
use crate::error::{Error, FieldError, OnConstraint, Result};
use crate::store::{
    CredentialRow, DynStore, ResealedCredential, Store, StoreError, User, VaultKeyRow,
};

/// The file an embedded (SQLite) installation keeps its generated key in,
/// next to the database file.
pub const DEFAULT_KEY_FILE: &str = "vieagent.key";
/// Largest accepted credential value (service-account JSON files fit easily).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Vault failures. None of them carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("missing credentials for {}", providers.join(", "))]
    MissingCredentials { providers: Vec<String> },
    #[error("the stored {provider} credential could not be decrypted ({source}); set it again")]
    Undecryptable {
        provider: String,
        #[source]
        source: CryptoError,
    },
}

/// A credential's metadata: everything but the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    pub provider: String,
    pub key_name: String,
    pub key_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CredentialRow> for CredentialInfo {
    fn from(row: &CredentialRow) -> Self {
        Self {
            provider: row.provider.clone(),
            key_name: row.key_name.clone(),
            key_version: row.key_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One decrypted credential, alive only for a call.
pub struct ResolvedCredential {
    pub provider: String,
    pub key_name: String,
    pub value: SecretString,
}

/// The decrypted credentials a call needs, keyed by provider. `Debug` shows
/// which providers are present, never the values.
#[derive(Default)]
pub struct Credentials {
    by_provider: BTreeMap<String, ResolvedCredential>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("providers", &self.by_provider.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    pub fn get(&self, provider: &str) -> Option<&SecretString> {
        self.by_provider.get(provider).map(|c| &c.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResolvedCredential> {
        self.by_provider.values()
    }

    pub fn providers(&self) -> Vec<&str> {
        self.by_provider.keys().map(String::as_str).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_provider.is_empty()
    }

    pub fn insert(&mut self, provider: &str, key_name: &str, value: SecretString) {
        self.by_provider.insert(
            provider.to_string(),
            ResolvedCredential {
                provider: provider.to_string(),
                key_name: key_name.to_string(),
                value,
            },
        );
    }
}

/// Counts printed by `vault rotate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    pub target_version: i32,
    pub examined: u64,
    pub resealed: u64,
    /// Rows changed by a concurrent write while being re-sealed (they are
    /// already on the active key or will be picked up by the next run).
    pub skipped_concurrent: u64,
    pub batches: u64,
    /// Rows still on other versions after this run (0 when complete).
    pub remaining: u64,
}

/// The Vault: a keyring plus the store's credential rows.
#[derive(Clone)]
pub struct Vault {
    keyring: Arc<Keyring>,
    store: DynStore,
    rows: Arc<RowCache>,
}

type CachedRows = (Arc<Vec<CredentialRow>>, std::time::Instant);

/// Sealed credential rows per user, kept briefly so a call does not read the
/// database for them every time. Only ciphertext is cached; values are
/// decrypted per call. Local writes invalidate at once, and so do other
/// processes' on PostgreSQL (NOTIFY, see [`Vault::forget_cached`]); on
/// SQLite other processes' changes are seen within the TTL (a provider that
/// is missing from the cache is always re-read, so newly added credentials
/// work at once everywhere).
struct RowCache {
    ttl: std::time::Duration,
    rows: std::sync::Mutex<std::collections::HashMap<Uuid, CachedRows>>,
}

impl RowCache {
    fn get(&self, user: Uuid) -> Option<Arc<Vec<CredentialRow>>> {
        let rows = self.rows.lock().ok()?;
        let (cached, at) = rows.get(&user)?;
        (at.elapsed() < self.ttl).then(|| cached.clone())
    }

    fn put(&self, user: Uuid, value: Arc<Vec<CredentialRow>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut rows) = self.rows.lock() {
            if rows.len() >= 10_000 {
                rows.clear();
            }
            rows.insert(user, (value, std::time::Instant::now()));
        }
    }

    fn forget(&self, user: Uuid) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.remove(&user);
        }
    }

    fn forget_all(&self) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.clear();
        }
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring)
            .finish()
    }
}

fn read_key_file(path: &Path, setting: &str) -> Result<MasterKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(crate::config::ConfigError::new(
            setting,
            format!("cannot read key file {}: {e}", path.display()),
        ))
    })?;
    let text = zeroize::Zeroizing::new(text);
    warn_if_readable_by_others(path);
    MasterKey::from_base64(&text).map_err(|reason| {
        Error::Config(crate::config::ConfigError::new(
            setting,
            format!("key file {} {reason}", path.display()),
        ))
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "key file is readable by other users; restrict it with chmod 600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Read a key file given on the command line (e.g. `vault rotate --new-key-file`).
pub fn read_key_file_for(path: &Path) -> Result<MasterKey> {
    read_key_file(path, "--new-key-file")
}

/// Write a new key file readable only by its owner; refuses to overwrite.
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Error::Startup(format!("cannot create key file {}: {e}", path.display())))?;
    let encoded = key.to_base64();
    file.write_all(encoded.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

/// Where the embedded default keeps its generated key: beside the database file.
pub fn default_key_path(config: &Config) -> Option<PathBuf> {
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(config.database_url.expose_secret()).ok()?;
    let db = options.get_filename();
    if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
        return None;
    }
    Some(match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEFAULT_KEY_FILE),
        _ => PathBuf::from(DEFAULT_KEY_FILE),
    })
}

/// The configured master key and extra keyring keys.
struct ConfiguredKeys {
    active: Option<MasterKey>,
    extra: Vec<MasterKey>,
}

fn configured_keys(config: &Config) -> Result<ConfiguredKeys> {
    let active = match (&config.master_key, &config.master_key_file) {
        (Some(key), _) => Some(
            MasterKey::from_base64(key.expose_secret()).map_err(|reason| {
                Error::Config(crate::config::ConfigError::new(
                    "master_key (VIEAGENT_MASTER_KEY)",
                    reason,
                ))
            })?,
        ),
        (None, Some(path)) => Some(read_key_file(
            path,
            "master_key_file (VIEAGENT_MASTER_KEY_FILE)",
        )?),
        (None, None) => None,
    };
    let extra = config
        .keyring_files
        .iter()
        .map(|p| read_key_file(p, "keyring_files (VIEAGENT_KEYRING_FILES)"))
        .collect::<Result<Vec<_>>>()?;
    Ok(ConfiguredKeys { active, extra })
}

const KEY_MISMATCH: &str = "master key does not match the key this database was encrypted with";

impl Vault {
    /// Open the Vault for a server (`serve`/`stdio`) or CLI command: load the
    /// configured keys, check them against the database's canaries, and on a
    /// fresh database register the master key. With no key configured, the
    /// embedded SQLite default generates `vieagent.key`; PostgreSQL refuses.
    pub async fn open(config: &Config, store: DynStore) -> Result<Self> {
        Self::open_with_target(config, store, None)
            .await
            .map(|(v, _)| v)
    }

    /// Like [`open`](Self::open), also loading `target` (a new key for
    /// rotation) into the keyring and registering it. Returns the target's version.
    pub async fn open_with_target(
        config: &Config,
        store: DynStore,
        target: Option<MasterKey>,
    ) -> Result<(Self, Option<i32>)> {
        let ConfiguredKeys { active, extra } = configured_keys(config)?;
        let registered = store.vault_keys().await?;
        let active = match active {
            Some(key) => key,
            None => Self::default_key(config, &registered)?,
        };

        // Match every configured key to the version whose canary it opens.
        let by_fingerprint: BTreeMap<&str, &VaultKeyRow> = registered
            .iter()
            .map(|r| (r.key_fingerprint.as_str(), r))
            .collect();
        let mut matched: Vec<(i32, &MasterKey)> = Vec::new();
        for key in std::iter::once(&active)
            .chain(extra.iter())
            .chain(target.iter())
        {
            if let Some(row) = by_fingerprint.get(key.fingerprint().as_str()) {
                let ring = Keyring::new(row.key_version, key);
                ring.open_canary(&Sealed {
                    ciphertext: row.canary.clone(),
                    iv: row.canary_iv.clone(),
                    key_version: row.key_version,
                })
                .map_err(|_| {
                    Error::Startup(format!(
                        "vault key check failed: the canary of key version {} does not open with the key whose fingerprint matches it (vault_meta was tampered with?)",
                        row.key_version
                    ))
                })?;
                matched.push((row.key_version, key));
            }
        }
        let version_of = |key: &MasterKey| {
            let fp = key.fingerprint();
            by_fingerprint.get(fp.as_str()).map(|r| r.key_version)
        };

        let active_version = match version_of(&active) {
            Some(v) => v,
            None if registered.is_empty() || !matched.is_empty() => {
                // A fresh vault, or a switch to a new master key proven by a
                // configured key that opens an existing version.
                register_key(store.as_ref(), &active).await?
            }
            None => {
                return Err(Error::Startup(format!(
                    "{KEY_MISMATCH} (key fingerprint {}; this database has key versions {:?}). \
                 Configure the original key with VIEAGENT_MASTER_KEY or VIEAGENT_MASTER_KEY_FILE, \
                 or add it to keyring_files when switching to a new key.",
                    active.fingerprint(),
                    registered.iter().map(|r| r.key_version).collect::<Vec<_>>()
                )));
            }
        };
        let mut keyring = Keyring::new(active_version, &active);
        for (version, key) in &matched {
            keyring.add(*version, key);
        }
        let target_version = match &target {
            Some(key) => {
                let v = match version_of(key) {
                    Some(v) => v,
                    None => register_key(store.as_ref(), key).await?,
                };
                keyring.add(v, key);
                Some(v)
            }
            None => None,
        };
        for key in &extra {
            if version_of(key).is_none() {
                tracing::warn!(
                    fingerprint = %key.fingerprint(),
                    "a keyring_files key matches no key version of this database; ignoring it"
                );
            }
        }
        tracing::info!(
            active_version,
            versions = ?keyring.versions(),
            "vault key check passed"
        );
        Ok((
            Self {
                keyring: Arc::new(keyring),
                store,
                rows: Arc::new(RowCache {
                    ttl: config.auth_cache_ttl,
                    rows: Default::default(),
                }),
            },
            target_version,
        ))
    }

    /// No key configured: the embedded default generates (or reuses) one.
    fn default_key(config: &Config, registered: &[VaultKeyRow]) -> Result<MasterKey> {
        let how = "Set VIEAGENT_MASTER_KEY (base64 of 32 random bytes, e.g. from `vieagent vault generate-key`) \
                   or VIEAGENT_MASTER_KEY_FILE";
        if config.database_kind()? == DatabaseKind::Postgres {
            return Err(Error::Startup(format!(
                "no vault master key configured; PostgreSQL deployments must set one. {how}."
            )));
        }
        let Some(path) = default_key_path(config) else {
            return Err(Error::Startup(format!(
                "no vault master key configured. {how}."
            )));
        };
        if path.exists() {
            return read_key_file(&path, "vieagent.key");
        }
        if !registered.is_empty() {
            return Err(Error::Startup(format!(
                "no vault master key configured and {} does not exist, but this database holds \
                 credentials sealed with a key. {how}.",
                path.display()
            )));
        }
        let key = MasterKey::generate()
            .map_err(|e| Error::Startup(format!("cannot generate a master key: {e}")))?;
        write_key_file(&path, &key)?;
        tracing::warn!(
            path = %path.display(),
            "generated a new vault master key; BACK IT UP: without it the stored credentials cannot be decrypted"
        );
        Ok(key)
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Store (or replace) a user's credential. The previous value stays intact
    /// if anything fails.
    pub async fn put(
        &self,
        user: &User,
        provider: &str,
        key_name: &str,
        secret: &SecretString,
    ) -> Result<CredentialInfo> {
        validate_provider(provider)?;
        validate_key_name(key_name)?;
        validate_secret(secret)?;
        let id = Uuid::new_v4();
        let sealed = self
            .keyring
            .seal(
                &CredentialAad {
                    credential_id: id,
                    user_id: user.id,
                    provider,
                    key_name,
                },
                secret,
            )
            .map_err(|e| Error::Internal(format!("sealing a credential failed: {e}")))?;
        let now = Utc::now();
        let row = self
            .store
            .put_credential(&CredentialRow {
                id,
                user_id: user.id,
                provider: provider.to_string(),
                key_name: key_name.to_string(),
                encrypted_value: sealed.ciphertext,
                iv: sealed.iv,
                key_version: sealed.key_version,
                created_at: now,
                updated_at: now,
            })
            .await
            .on_foreign_key(|| Error::NotFound("no such user".into()))?;
        self.rows.forget(user.id);
        tracing::info!(user_id = %user.id, provider, key_name, key_version = row.key_version, "credential stored");
        Ok(CredentialInfo::from(&row))
    }

    /// Another process changed credentials: `Some(user)`'s, or anyone's.
    /// The next call reads them again.
    pub fn forget_cached(&self, user: Option<Uuid>) {
        match user {
            Some(user) => self.rows.forget(user),
            None => self.rows.forget_all(),
        }
    }

    /// Metadata only: the value is never returned.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<CredentialInfo>> {
        Ok(self
            .store
            .list_credentials(user_id)
            .await?
            .iter()
            .map(CredentialInfo::from)
            .collect())
    }

    pub async fn delete(&self, user_id: Uuid, provider: &str, key_name: &str) -> Result<bool> {
        let deleted = self
            .store
            .delete_credential(user_id, provider, key_name)
            .await?;
        self.rows.forget(user_id);
        Ok(deleted)
    }

    /// Decrypt the credentials a call needs. For a provider with several keys,
    /// the one named `default` wins, else the most recently stored.
    /// Missing providers are all reported at once.
    pub async fn resolve(
        &self,
        user_id: Uuid,
        required: &[String],
    ) -> Result<Credentials, ResolveError> {
        let mut credentials = Credentials::default();
        if required.is_empty() {
            return Ok(credentials);
        }
        let has_all = |rows: &[CredentialRow]| {
            required
                .iter()
                .all(|p| rows.iter().any(|r| &r.provider == p))
        };
        let rows = match self.rows.get(user_id) {
            Some(rows) if has_all(&rows) => rows,
            _ => {
                let rows = Arc::new(
                    self.store
                        .list_credentials(user_id)
                        .await
                        .map_err(ResolveError::Store)?,
                );
                self.rows.put(user_id, rows.clone());
                rows
            }
        };
        let mut missing = Vec::new();
        for provider in required {
            if credentials.get(provider).is_some() {
                continue;
            }
            let chosen = rows
                .iter()
                .filter(|r| &r.provider == provider)
                .max_by_key(|r| (r.key_name == "default", r.updated_at, r.created_at));
            let Some(row) = chosen else {
                missing.push(provider.clone());
                continue;
            };
            let value = self
                .keyring
                .open(
                    &CredentialAad {
                        credential_id: row.id,
                        user_id: row.user_id,
                        provider: &row.provider,
                        key_name: &row.key_name,
                    },
                    &Sealed {
                        ciphertext: row.encrypted_value.clone(),
                        iv: row.iv.clone(),
                        key_version: row.key_version,
                    },
                )
                .map_err(|source| {
                    tracing::error!(credential_id = %row.id, provider = %row.provider, error = %source, "credential does not decrypt");
                    ResolveError::Vault(VaultError::Undecryptable {
                        provider: row.provider.clone(),
                        source,
                    })
                })?;
            credentials.insert(&row.provider, &row.key_name, value);
        }
        if missing.is_empty() {
            Ok(credentials)
        } else {
            missing.sort();
            missing.dedup();
            Err(ResolveError::Vault(VaultError::MissingCredentials {
                providers: missing,
            }))
        }
    }

    /// Rows per key version: `(version, rows)`, ascending.
    pub async fn status(&self) -> Result<Vec<(i32, i64)>> {
        Ok(self.store.credential_key_versions().await?)
    }

    /// Re-seal every credential not on `target` under `target`, `batch_size`
    /// rows per transaction. Stops after `max_batches` if given (the rest is
    /// picked up by the next run). Safe to run while servers are serving.
    pub async fn rotate(
        &self,
        target: i32,
        batch_size: u32,
        max_batches: Option<u64>,
    ) -> Result<RotationReport> {
        if !self.keyring.has_version(target) {
            return Err(Error::InvalidInput(format!(
                "key version {target} is not in the keyring"
            )));
        }
        let batch_size = batch_size.clamp(1, 10_000);
        let mut report = RotationReport {
            target_version: target,
            ..RotationReport::default()
        };
        let mut after: Option<Uuid> = None;
        loop {
            if max_batches.is_some_and(|max| report.batches >= max) {
                break;
            }
            let rows = self
                .store
                .credentials_not_on_version(target, after, batch_size)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            let mut resealed = Vec::with_capacity(rows.len());
            for row in &rows {
                let aad = CredentialAad {
                    credential_id: row.id,
                    user_id: row.user_id,
                    provider: &row.provider,
                    key_name: &row.key_name,
                };
                let old = Sealed {
                    ciphertext: row.encrypted_value.clone(),
                    iv: row.iv.clone(),
                    key_version: row.key_version,
                };
                let plaintext = self.keyring.open(&aad, &old).map_err(|e| match e {
                    CryptoError::UnknownKeyVersion(v) => Error::Startup(format!(
                        "credential {} is sealed with key version {v}, but no configured key opens version {v}; \
                         add that key's file to keyring_files and run rotate again",
                        row.id
                    )),
                    other => Error::Startup(format!(
                        "credential {} ({}) does not decrypt ({other}); delete or re-set it, then run rotate again",
                        row.id, row.provider
                    )),
                })?;
                let new = self
                    .keyring
                    .seal_with(target, &aad, &plaintext)
                    .map_err(|e| Error::Internal(format!("sealing failed: {e}")))?;
                resealed.push(ResealedCredential {
                    id: row.id,
                    old_iv: row.iv.clone(),
                    encrypted_value: new.ciphertext,
                    iv: new.iv,
                    key_version: target,
                });
            }
            let updated = self.store.reseal_credentials(&resealed).await?;
            report.batches += 1;
            report.examined += rows.len() as u64;
            report.resealed += updated;
            report.skipped_concurrent += rows.len() as u64 - updated;
            tracing::info!(
                batch = report.batches,
                resealed = report.resealed,
                "rotation batch committed"
            );
        }
        report.remaining = self
            .status()
            .await?
            .iter()
            .filter(|(v, _)| *v != target)
            .map(|(_, n)| *n as u64)
            .sum();
        Ok(report)
    }
}

/// `resolve` failures: the vault's own, or the store's.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<ResolveError> for Error {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Vault(v @ VaultError::MissingCredentials { .. }) => {
                Error::InvalidInput(v.to_string())
            }
            ResolveError::Vault(v) => Error::Internal(v.to_string()),
            ResolveError::Store(s) => Error::Store(s),
        }
    }
}

/// Register a key under the next free version (racing registrations of the
/// same key converge on one row through the fingerprint's uniqueness).
async fn register_key(store: &dyn Store, key: &MasterKey) -> Result<i32> {
    for _ in 0..5 {
        let rows = store.vault_keys().await?;
        if let Some(row) = rows.iter().find(|r| r.key_fingerprint == key.fingerprint()) {
            return Ok(row.key_version);
        }
        let version = rows.iter().map(|r| r.key_version).max().unwrap_or(0) + 1;
        let canary = Keyring::new(version, key)
            .seal_canary(version)
            .map_err(|e| Error::Internal(format!("sealing the vault canary failed: {e}")))?;
        match store
            .insert_vault_key(&VaultKeyRow {
                key_version: version,
                key_fingerprint: key.fingerprint(),
                canary: canary.ciphertext,
                canary_iv: canary.iv,
                created_at: Utc::now(),
            })
            .await
        {
            Ok(()) => {
                tracing::info!(key_version = version, fingerprint = %key.fingerprint(), "registered vault key version");
                return Ok(version);
            }
            Err(StoreError::UniqueViolation { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Startup(
        "could not register the vault key (concurrent registrations kept conflicting)".into(),
    ))
}

pub fn validate_provider(provider: &str) -> Result<()> {
    let ok = !provider.is_empty()
        && provider.len() <= 64
        && provider.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(vec![FieldError::new(
            "provider",
            "pattern",
            "must match ^[a-z0-9_.-]{1,64}$ (e.g. openai, anthropic, google_sheets)",
        )]))
    }
}

pub fn validate_key_name(key_name: &str) -> Result<()> {
    if key_name.is_empty()
        || key_name.chars().count() > 64
        || key_name.chars().any(char::is_control)
    {
        return Err(Error::Validation(vec![FieldError::new(
            "key_name",
            "printable",
            "must be 1 to 64 printable characters",
        )]));
    }
    Ok(())
}

fn validate_secret(secret: &SecretString) -> Result<()> {
    let value = secret.expose_secret();
    if value.trim().is_empty() {
        return Err(Error::Validation(vec![FieldError::new(
            "value",
            "not_blank",
            "the credential value is empty",
        )]));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(Error::Validation(vec![FieldError::new(
            "value",
            "max_size",
            format!("the credential value is larger than {MAX_SECRET_BYTES} bytes"),
        )]));
    }
    Ok(())
}
