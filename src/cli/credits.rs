//! `vieagent credits`: balances, grants, the ledger.

use clap::Subcommand;

use super::util::with_store;
use crate::accounts;
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Add credits (or remove them, with a negative amount) with a reason.
    Grant {
        /// The user's email.
        #[arg(long)]
        user: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        #[arg(long)]
        reason: String,
    },
    /// Show a user's balance.
    Show {
        #[arg(long)]
        user: String,
    },
    /// A user's ledger, newest first.
    Ledger {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

impl CreditsCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            match self {
                CreditsCommand::Grant {
                    user,
                    amount,
                    reason,
                } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let entry =
                        crate::billing::adjust_credits(store.as_ref(), user.id, amount, &reason)
                            .await?;
                    println!(
                        "{} {} credits for {} ({}); balance {}",
                        if amount > 0 { "added" } else { "removed" },
                        amount.unsigned_abs(),
                        user.email,
                        entry.reason,
                        entry.balance_after
                    );
                }
                CreditsCommand::Show { user } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let a = store.credit_account(user.id).await?;
                    println!(
                        "{}: balance {}, reserved {} (calls in flight), available {}",
                        user.email,
                        a.balance,
                        a.reserved,
                        a.available()
                    );
                }
                CreditsCommand::Ledger { user, limit } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    for e in store
                        .list_ledger(user.id, None, limit.clamp(1, 1000))
                        .await?
                    {
                        println!(
                            "{}\t{:+}\tbalance {}\t{}{}",
                            e.created_at.to_rfc3339(),
                            e.delta,
                            e.balance_after,
                            e.reason,
                            e.execution_log_id
                                .map(|id| format!(" (execution {id})"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
