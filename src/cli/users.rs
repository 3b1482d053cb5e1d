//! `vieagent users`.

use clap::Subcommand;

use super::util::with_store;
use crate::accounts;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{NewAuditEntry, Role, Store, User, UserPatch};

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
    /// Disable a user: their API keys, OAuth tokens and open sessions stop
    /// working (within `auth_cache_ttl` in running gateways); their data stays.
    Disable {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
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
                UsersCommand::Disable { user } => {
                    let user = set_disabled(store.as_ref(), &user, true).await?;
                    println!("disabled user {} <{}>", user.id, user.email);
                }
                UsersCommand::Enable { user } => {
                    let user = set_disabled(store.as_ref(), &user, false).await?;
                    println!("enabled user {} <{}>", user.id, user.email);
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

/// Disable or enable the user with `email`, recorded in the audit log as
/// the admin API's `user.disable` / `user.enable` are.
async fn set_disabled(store: &dyn Store, email: &str, disabled: bool) -> Result<User> {
    let user = accounts::user_by_email(store, email).await?;
    let user = store
        .update_user(
            user.id,
            &UserPatch {
                disabled: Some(disabled),
                ..UserPatch::default()
            },
        )
        .await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    store
        .insert_audit(&NewAuditEntry {
            actor_user_id: None,
            actor: "cli".into(),
            action: action.into(),
            target_type: "user".into(),
            target_id: Some(user.id.to_string()),
            details: serde_json::json!({"email": user.email}),
        })
        .await?;
    Ok(user)
}
