//! `vieagent users`.

use clap::Subcommand;

use super::util::with_store;
use crate::accounts;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::Role;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        /// user or admin
        #[arg(long, default_value = "user")]
        role: String,
        #[arg(long, default_value = "free")]
        plan: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Starting credits (default: billing.signup_credits).
        #[arg(long)]
        credits: Option<i64>,
    },
    /// List users.
    List,
}

impl UsersCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            match self {
                UsersCommand::Create {
                    email,
                    role,
                    plan,
                    name,
                    credits,
                } => {
                    let role: Role = role
                        .parse()
                        .map_err(|e| Error::InvalidInput(format!("--role: {e}")))?;
                    let credits = credits.unwrap_or(config.billing.signup_credits);
                    let user =
                        accounts::create_user(store.as_ref(), &email, name, role, &plan, credits)
                            .await?;
                    println!(
                        "created user {} <{}> role={} plan={}",
                        user.id, user.email, user.role, user.plan
                    );
                }
                UsersCommand::List => {
                    for u in store.list_users().await? {
                        println!(
                            "{}\t{}\t{}\t{}{}",
                            u.id,
                            u.email,
                            u.role,
                            u.plan,
                            if u.disabled_at.is_some() {
                                "\tdisabled"
                            } else {
                                ""
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
