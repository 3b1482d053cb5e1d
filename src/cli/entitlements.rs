//! `vieagent entitlements`: users' access to priced agents.

use clap::Subcommand;

use super::util::{parse_when, with_store};
use crate::accounts;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store;

#[derive(Debug, Subcommand)]
pub enum EntitlementsCommand {
    /// Grant a user access to a priced agent.
    Grant {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// The agent's tool name or id.
        #[arg(long)]
        agent: String,
        /// one_time, monthly, free or grant
        #[arg(long, default_value = "grant")]
        kind: String,
        /// When it starts (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        starts_at: Option<String>,
        /// When it ends (RFC 3339 or YYYY-MM-DD); monthly defaults to one month.
        #[arg(long)]
        expires_at: Option<String>,
        /// Order or invoice number.
        #[arg(long)]
        reference: Option<String>,
        /// What was paid (default: the agent's price for one_time/monthly).
        #[arg(long)]
        price: Option<String>,
    },
    /// Revoke an entitlement by id.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// List a user's entitlements.
    List {
        #[arg(long)]
        user: String,
    },
}

impl EntitlementsCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            match self {
                EntitlementsCommand::Grant {
                    user,
                    agent,
                    kind,
                    starts_at,
                    expires_at,
                    reference,
                    price,
                } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let agent = crate::billing::find_agent(store.as_ref(), &agent)
                        .await?
                        .ok_or_else(|| {
                            Error::NotFound(format!("no agent with tool name or id '{agent}'"))
                        })?;
                    let kind: store::EntitlementKind = kind
                        .parse()
                        .map_err(|e| Error::InvalidInput(format!("--kind: {e}")))?;
                    let price = price
                        .map(|p| {
                            crate::agents::parse_price(
                                "--price",
                                &crate::agents::PriceInput::Text(p.clone()),
                            )
                            .map_err(|e| Error::InvalidInput(format!("{}: {}", e.field, e.message)))
                        })
                        .transpose()?;
                    let grant = crate::billing::Grant {
                        kind,
                        starts_at: starts_at
                            .as_deref()
                            .map(|v| parse_when("--starts-at", v))
                            .transpose()?,
                        expires_at: expires_at
                            .as_deref()
                            .map(|v| parse_when("--expires-at", v))
                            .transpose()?,
                        reference,
                        price,
                        join_toolbox: config.catalog.toolbox_add_purchases,
                    };
                    let e = crate::billing::grant_entitlement(
                        store.as_ref(),
                        None,
                        user.id,
                        &agent,
                        &grant,
                    )
                    .await?;
                    println!(
                        "granted {} access to {} for {} (id {}, {})",
                        e.kind,
                        agent.tool_name,
                        user.email,
                        e.id,
                        e.expires_at
                            .map(|t| format!("until {}", t.to_rfc3339()))
                            .unwrap_or_else(|| "no expiry".into())
                    );
                }
                EntitlementsCommand::Revoke { id } => {
                    let id = uuid::Uuid::parse_str(&id).map_err(|_| {
                        Error::InvalidInput(format!("'{id}' is not an entitlement id"))
                    })?;
                    let e = crate::billing::revoke_entitlement(store.as_ref(), None, id).await?;
                    println!(
                        "revoked entitlement {} (user {}, agent {})",
                        e.id, e.user_id, e.agent_id
                    );
                }
                EntitlementsCommand::List { user } => {
                    let user = accounts::user_by_email(store.as_ref(), &user).await?;
                    let now = chrono::Utc::now();
                    for e in store.list_entitlements(user.id).await? {
                        let agent = store
                            .get_agent(e.agent_id)
                            .await?
                            .map(|a| a.tool_name)
                            .unwrap_or_else(|| e.agent_id.to_string());
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            e.id,
                            agent,
                            e.kind,
                            if e.is_active(now) {
                                "active"
                            } else {
                                "inactive"
                            },
                            e.expires_at
                                .map(|t| format!("expires {}", t.to_rfc3339()))
                                .unwrap_or_else(|| "no expiry".into())
                        );
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
