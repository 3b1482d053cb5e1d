//! `vieagent credentials`: users' provider credentials in the Vault. Values
//! are read from stdin, never from the command line, and never printed.

use clap::Subcommand;

use super::util::{read_secret_from_stdin, with_store};
use crate::accounts;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::vault::Vault;

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store a credential; the secret is read from stdin (e.g. `printf %s "$KEY" | vieagent credentials set …`).
    Set {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Provider / credential type, e.g. openai, anthropic, google_sheets.
        #[arg(long)]
        provider: String,
        #[arg(long, default_value = "default")]
        key_name: String,
    },
    /// List a user's credentials (metadata only; values are never shown).
    List {
        #[arg(long)]
        user: String,
    },
    /// Delete a credential.
    Delete {
        #[arg(long)]
        user: String,
        #[arg(long)]
        provider: String,
        #[arg(long, default_value = "default")]
        key_name: String,
    },
}

impl CredentialsCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            let vault = Vault::open(config, store.clone()).await?;
            match self {
                CredentialsCommand::Set {
                    user,
                    provider,
                    key_name,
                } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let secret = read_secret_from_stdin()?;
                    let info = vault.put(&user, &provider, &key_name, &secret).await?;
                    println!(
                        "stored {} credential '{}' for {} (key version {})",
                        info.provider, info.key_name, user.email, info.key_version
                    );
                }
                CredentialsCommand::List { user } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    for c in vault.list(user.id).await? {
                        println!(
                            "{}\t{}\tkey version {}\tcreated {}\tupdated {}",
                            c.provider,
                            c.key_name,
                            c.key_version,
                            c.created_at.to_rfc3339(),
                            c.updated_at.to_rfc3339()
                        );
                    }
                }
                CredentialsCommand::Delete {
                    user,
                    provider,
                    key_name,
                } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    if !vault.delete(user.id, &provider, &key_name).await? {
                        return Err(Error::NotFound(format!(
                            "{} has no {provider} credential named '{key_name}'",
                            user.email
                        )));
                    }
                    println!(
                        "deleted {provider} credential '{key_name}' of {}",
                        user.email
                    );
                }
            }
            Ok(())
        })
        .await
    }
}
