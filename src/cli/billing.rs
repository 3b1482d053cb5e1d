//! `vieagent billing`: usage and revenue reports.

use clap::Subcommand;

use super::util::{parse_when, with_store};
use crate::billing::{self, GroupBy};
use crate::config::Config;
use crate::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Usage and revenue over [from, to).
    Report {
        /// Start, inclusive (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: String,
        /// End, exclusive (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: String,
        /// user, agent or day
        #[arg(long, default_value = "user")]
        group_by: String,
        /// csv or json
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

impl BillingCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        let BillingCommand::Report {
            from,
            to,
            group_by,
            format,
        } = self;
        let currency = config.billing.currency.clone();
        with_store(config, |store| async move {
            let from = parse_when("--from", &from)?;
            let to = parse_when("--to", &to)?;
            let group_by: GroupBy = group_by
                .parse()
                .map_err(|e| Error::InvalidInput(format!("--group-by: {e}")))?;
            let report =
                billing::usage_report(store.as_ref(), from, to, group_by, &currency).await?;
            match format.as_str() {
                "csv" => print!("{}", billing::report_csv(&report)),
                "json" => println!(
                    "{}",
                    serde_json::to_string_pretty(&report)
                        .map_err(|e| Error::Internal(e.to_string()))?
                ),
                other => {
                    return Err(Error::InvalidInput(format!(
                        "--format: '{other}' is not one of csv, json"
                    )));
                }
            }
            Ok(())
        })
        .await
    }
}
