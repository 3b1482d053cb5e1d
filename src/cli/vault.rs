//! `vieagent vault`: key versions, rotation, key generation.

use std::path::PathBuf;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::util::with_store;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::store::DynStore;
use crate::vault::Vault;

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Key versions and credential rows per key version.
    Status,
    /// Re-encrypt every credential under a new key version (batched, resumable, online).
    Rotate {
        /// The new key (base64 in a file). Without it, re-seal under the configured master key.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
        /// Stop after this many batches (the next run continues).
        #[arg(long)]
        max_batches: Option<u64>,
    },
    /// Generate a new random master key (base64) into a file (mode 0600) or stdout.
    GenerateKey {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

impl VaultCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        match self {
            VaultCommand::GenerateKey { out } => generate_key(out),
            VaultCommand::Status => with_store(config, |store| status(config, store)).await,
            VaultCommand::Rotate {
                new_key_file,
                batch_size,
                max_batches,
            } => {
                with_store(config, |store| {
                    rotate(config, store, new_key_file, batch_size, max_batches)
                })
                .await
            }
        }
    }
}

fn generate_key(out: Option<PathBuf>) -> Result<()> {
    let key = MasterKey::generate()
        .map_err(|e| Error::Internal(format!("cannot generate a key: {e}")))?;
    match out {
        Some(path) => {
            crate::vault::write_key_file(&path, &key)?;
            eprintln!(
                "wrote a new master key to {} (mode 0600); back it up",
                path.display()
            );
        }
        None => println!("{}", key.to_base64().expose_secret()),
    }
    Ok(())
}

async fn status(config: &Config, store: DynStore) -> Result<()> {
    let vault = Vault::open(config, store.clone()).await?;
    let active = vault.keyring().active_version();
    println!("key versions:");
    for v in store.vault_keys().await? {
        println!(
            "  version {}{}{}\tfingerprint {}\tregistered {}",
            v.key_version,
            if v.key_version == active {
                " (active)"
            } else {
                ""
            },
            if vault.keyring().has_version(v.key_version) {
                ""
            } else {
                " (no key configured)"
            },
            v.key_fingerprint,
            v.created_at.to_rfc3339()
        );
    }
    println!("credentials per key version:");
    let counts = vault.status().await?;
    if counts.is_empty() {
        println!("  (no credentials)");
    }
    for (version, rows) in counts {
        println!("  version {version}: {rows} rows");
    }
    Ok(())
}

async fn rotate(
    config: &Config,
    store: DynStore,
    new_key_file: Option<PathBuf>,
    batch_size: u32,
    max_batches: Option<u64>,
) -> Result<()> {
    let target = new_key_file
        .as_deref()
        .map(crate::vault::read_key_file_for)
        .transpose()?;
    let (vault, target_version) = Vault::open_with_target(config, store, target).await?;
    let target_version = target_version.unwrap_or_else(|| vault.keyring().active_version());
    let report = vault
        .rotate(target_version, batch_size, max_batches)
        .await?;
    println!(
        "re-sealed {} credentials to key version {} in {} batches (examined {}, changed concurrently {}, remaining on other versions {})",
        report.resealed,
        report.target_version,
        report.batches,
        report.examined,
        report.skipped_concurrent,
        report.remaining
    );
    if report.remaining > 0 {
        eprintln!("rotation is not complete; run `vieagent vault rotate` again to continue");
    }
    Ok(())
}
