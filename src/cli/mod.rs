//! The `vieagent` command line: one file per command group, each with its
//! clap enum and a `run`; `dispatch` only delegates.

mod agents;
mod billing;
mod credentials;
mod credits;
mod entitlements;
mod keys;
mod serve;
mod users;
mod util;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides, Sources};
use crate::error::Result;

pub use agents::AgentsCommand;
pub use billing::BillingCommand;
pub use credentials::CredentialsCommand;
pub use credits::CreditsCommand;
pub use entitlements::EntitlementsCommand;
pub use keys::KeysCommand;
pub use users::UsersCommand;
pub use util::shutdown_signal;
pub use vault::VaultCommand;

#[derive(Debug, Parser)]
#[command(
    name = "vieagent",
    version,
    about = "VieAgent Gateway: marketplace agents as MCP tools",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML). Default: ./vieagent.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://path.db or postgres://user@host/db
    /// (prefer VIEAGENT_DATABASE_URL for URLs with passwords).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log filter, e.g. `info` or `info,vieagent=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (HTTP: /healthz, /readyz, ...). Migrates the database first.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Seed the built-in demo agent (default: only on a fresh embedded database).
        #[arg(long, conflicts_with = "no_demo")]
        demo: bool,
        /// Never seed the demo agent.
        #[arg(long)]
        no_demo: bool,
    },
    /// Serve MCP over stdin/stdout for the user owning VIEAGENT_API_KEY
    /// (what Claude Desktop / Cursor launch). Logs go to stderr.
    Stdio {
        /// Serve one of the user's toolsets (its agents and the discovery
        /// tools) instead of the catalog or their toolbox.
        #[arg(long, value_name = "NAME")]
        toolset: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users' provider credentials in the Vault (values read from stdin, never argv).
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// The Vault's master keys: status, rotation, key generation.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Manage marketplace agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Users' credits: balance, grants, ledger.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Users' entitlements to priced agents.
    #[command(subcommand)]
    Entitlements(EntitlementsCommand),
    /// Billing reports.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Exit 0 if the server answers /healthz (for container HEALTHCHECKs;
    /// default URL: the configured listen address).
    Healthcheck {
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Show,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::crypto::install_tls_provider();
    let mut overrides = Overrides {
        database_url: cli.global.database_url.clone(),
        log_level: cli.global.log_level.clone(),
        log_format: cli.global.log_format.clone(),
        ..Overrides::default()
    };
    if let Command::Serve {
        listen,
        demo,
        no_demo,
    } = &cli.command
    {
        overrides.listen = listen.clone();
        overrides.demo = match (demo, no_demo) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
    }
    let config = match Config::load(&Sources {
        file: cli.global.config.clone(),
        overrides,
        skip_env: false,
    }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = crate::telemetry::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command, config));
    // stdin reads (stdio transport) cannot be cancelled: don't wait on them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn dispatch(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve { .. } => serve::serve(config).await,
        Command::Stdio { toolset } => {
            let mut config = config;
            if toolset.is_some() {
                config.toolset = toolset;
            }
            crate::mcp::stdio::check_toolset(&config)?;
            serve::stdio(config).await
        }
        Command::Migrate => serve::migrate(&config).await,
        Command::Healthcheck { url } => serve::healthcheck(&config, url).await,
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.redacted());
            Ok(())
        }
        Command::Users(cmd) => cmd.run(&config).await,
        Command::Keys(cmd) => cmd.run(&config).await,
        Command::Credentials(cmd) => cmd.run(&config).await,
        Command::Vault(cmd) => cmd.run(&config).await,
        Command::Agents(cmd) => cmd.run(&config).await,
        Command::Credits(cmd) => cmd.run(&config).await,
        Command::Entitlements(cmd) => cmd.run(&config).await,
        Command::Billing(cmd) => cmd.run(&config).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
