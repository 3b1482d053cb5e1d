//! `vieagent keys`.

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::util::with_store;
use crate::accounts;
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a user and print it (once: only its hash is stored).
    Create {
        /// The user's email.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Revoke an API key, by id or by its display prefix (vak_XXXXXXXX).
    Revoke {
        #[arg(value_name = "ID_OR_PREFIX")]
        key: String,
    },
    /// List a user's API keys (prefix, name, created, last used, revoked).
    List {
        #[arg(long)]
        user: String,
    },
}

impl KeysCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            match self {
                KeysCommand::Create { user, name } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let (key, secret) =
                        accounts::create_key(store.as_ref(), user.id, &name).await?;
                    eprintln!(
                        "Created API key {} ({}) for {}. It is shown once; store it now:",
                        key.prefix, key.name, user.email
                    );
                    println!("{}", secret.expose_secret());
                }
                KeysCommand::Revoke { key } => {
                    let key = accounts::revoke_key(store.as_ref(), &key).await?;
                    println!(
                        "revoked API key {} ({}) id={}",
                        key.prefix, key.name, key.id
                    );
                }
                KeysCommand::List { user } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    for k in store.list_api_keys(user.id).await? {
                        println!(
                            "{}\t{}\t{}\tcreated {}\tlast used {}\t{}",
                            k.id,
                            k.prefix,
                            k.name,
                            k.created_at.to_rfc3339(),
                            k.last_used_at
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_else(|| "never".into()),
                            if k.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "live"
                            }
                        );
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
