//! The `vieagent` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::accounts;
use crate::config::{Config, Overrides, Sources, redact_url};
use crate::error::{Error, Result};
use crate::server;
use crate::store::{self, Role};

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
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Show,
}

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
    },
    /// List users.
    List,
}

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

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::install_crypto_provider();
    let mut overrides = Overrides {
        database_url: cli.global.database_url.clone(),
        log_level: cli.global.log_level.clone(),
        log_format: cli.global.log_format.clone(),
        ..Overrides::default()
    };
    if let Command::Serve { listen } = &cli.command {
        overrides.listen = listen.clone();
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
    crate::telemetry::init(&config);
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
    match runtime.block_on(dispatch(cli.command, config)) {
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
        Command::Serve { .. } => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| Error::Startup(format!("cannot listen on {}: {e}", config.listen)))?;
            server::run(config, listener, shutdown_signal()).await
        }
        Command::Migrate => {
            let store = store::connect(&config).await?;
            let applied = store.migrate().await.map_err(|e| match e {
                e @ store::StoreError::SchemaTooNew { .. } => Error::Startup(e.to_string()),
                other => Error::Startup(format!("migration failed: {other}")),
            })?;
            let status = store.migration_status().await?;
            let at = status.applied.last().copied().unwrap_or(0);
            let db = redact_url(config.database_url.expose_secret());
            if applied.is_empty() {
                println!("{db}: schema is up to date (version {at})");
            } else {
                println!("{db}: applied migrations {applied:?}; schema is at version {at}");
            }
            store.close().await;
            Ok(())
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.redacted());
            Ok(())
        }
        Command::Users(cmd) => {
            with_store(&config, |store| async move {
                match cmd {
                    UsersCommand::Create {
                        email,
                        role,
                        plan,
                        name,
                    } => {
                        let role: Role = role
                            .parse()
                            .map_err(|e| Error::InvalidInput(format!("--role: {e}")))?;
                        let user = accounts::create_user(store.as_ref(), &email, name, role, &plan)
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
        Command::Keys(cmd) => {
            with_store(&config, |store| async move {
                match cmd {
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
}

/// Open the store for a one-shot command; the schema must be current.
async fn with_store<F, Fut>(config: &Config, f: F) -> Result<()>
where
    F: FnOnce(store::DynStore) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let store = store::connect(config).await?;
    server::prepare_schema(store.as_ref()).await?;
    let result = f(store.clone()).await;
    store.close().await;
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
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
