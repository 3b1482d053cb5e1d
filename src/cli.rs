//! The `vieagent` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::accounts;
use crate::config::{Config, Overrides, Sources, redact_url};
use crate::error::{Error, Result};
use crate::server;
use crate::store::{self, Role};
use crate::vault::{MasterKey, Vault};

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
    Stdio,
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

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create or update an agent from a live engine flow (name, input schema,
    /// credential types are read from the engine).
    Import {
        /// flowise or activepieces
        #[arg(long)]
        engine: String,
        #[arg(long)]
        flow_id: String,
        /// Display name (default: the flow's).
        #[arg(long)]
        name: Option<String>,
        /// MCP tool name (default: derived from the name).
        #[arg(long)]
        tool_name: Option<String>,
        /// JSON Schema file for flows that do not declare their inputs.
        #[arg(long, value_name = "FILE")]
        input_schema: Option<PathBuf>,
        /// Publish it (refused while the engine check finds problems).
        #[arg(long)]
        publish: bool,
    },
    /// Apply a directory of agent manifests (*.yaml): create, update, and with
    /// --prune archive agents the manifests no longer mention. All or nothing.
    Apply {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Archive agents that no manifest mentions.
        #[arg(long)]
        prune: bool,
        /// Skip the engine checks before publishing (offline review only).
        #[arg(long)]
        no_engine_check: bool,
    },
    /// List agents.
    List,
}

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
        /// Starting credits (default: billing.signup_credits).
        #[arg(long)]
        credits: Option<i64>,
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
    let cfg = &config;
    match command {
        Command::Serve { .. } => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| Error::Startup(format!("cannot listen on {}: {e}", config.listen)))?;
            server::run(config, listener, shutdown_signal()).await
        }
        Command::Stdio => server::run_stdio(config, shutdown_signal()).await,
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
                        credits,
                    } => {
                        let role: Role = role
                            .parse()
                            .map_err(|e| Error::InvalidInput(format!("--role: {e}")))?;
                        let credits = credits.unwrap_or(config.billing.signup_credits);
                        let user = accounts::create_user(
                            store.as_ref(),
                            &email,
                            name,
                            role,
                            &plan,
                            credits,
                        )
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
        Command::Credentials(cmd) => {
            with_store(&config, |store| async move {
                let vault = Vault::open(cfg, store.clone()).await?;
                match cmd {
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
        Command::Vault(VaultCommand::GenerateKey { out }) => {
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
        Command::Vault(cmd) => {
            with_store(&config, |store| async move {
                match cmd {
                    VaultCommand::Status => vault_status(cfg, store).await,
                    VaultCommand::Rotate {
                        new_key_file,
                        batch_size,
                        max_batches,
                    } => vault_rotate(cfg, store, new_key_file, batch_size, max_batches).await,
                    VaultCommand::GenerateKey { .. } => Ok(()),
                }
            })
            .await
        }
        Command::Agents(cmd) => {
            with_store(&config, |store| async move {
                match cmd {
                    AgentsCommand::Import {
                        engine,
                        flow_id,
                        name,
                        tool_name,
                        input_schema,
                        publish,
                    } => {
                        agents_import(
                            cfg,
                            store,
                            engine,
                            flow_id,
                            name,
                            tool_name,
                            input_schema,
                            publish,
                        )
                        .await
                    }
                    AgentsCommand::Apply {
                        dir,
                        dry_run,
                        prune,
                        no_engine_check,
                    } => agents_apply(cfg, store, &dir, dry_run, prune, no_engine_check).await,
                    AgentsCommand::List => {
                        for a in store
                            .list_agents(&store::AgentFilter {
                                limit: Some(1000),
                                ..Default::default()
                            })
                            .await?
                        {
                            println!(
                                "{}\t{}\t{}\t{} {}\t{}",
                                a.tool_name,
                                a.status,
                                a.name,
                                a.engine_type,
                                a.engine_flow_id,
                                a.id
                            );
                        }
                        Ok(())
                    }
                }
            })
            .await
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| {
                let mut addr = config.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}/healthz")
            });
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(3))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    println!("ok: {url}");
                    Ok(())
                }
                Ok(r) => Err(Error::Startup(format!("{url} answered {}", r.status()))),
                Err(e) => Err(Error::Startup(format!("{url} is not answering: {e}"))),
            }
        }
        Command::Credits(cmd) => {
            with_store(
                &config,
                |store| async move { credits_command(store, cmd).await },
            )
            .await
        }
        Command::Entitlements(cmd) => {
            with_store(&config, |store| async move {
                entitlements_command(store, cmd).await
            })
            .await
        }
        Command::Billing(BillingCommand::Report {
            from,
            to,
            group_by,
            format,
        }) => {
            let currency = config.billing.currency.clone();
            with_store(&config, |store| async move {
                let from = parse_when("--from", &from)?;
                let to = parse_when("--to", &to)?;
                let group_by: crate::billing::GroupBy = group_by
                    .parse()
                    .map_err(|e| Error::InvalidInput(format!("--group-by: {e}")))?;
                let report =
                    crate::billing::usage_report(store.as_ref(), from, to, group_by, &currency)
                        .await?;
                match format.as_str() {
                    "csv" => print!("{}", crate::billing::report_csv(&report)),
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

#[allow(clippy::too_many_arguments)]
async fn agents_import(
    config: &Config,
    store: store::DynStore,
    engine: String,
    flow_id: String,
    name: Option<String>,
    tool_name: Option<String>,
    input_schema: Option<PathBuf>,
    publish: bool,
) -> Result<()> {
    let engine_type: store::EngineType = engine
        .parse()
        .map_err(|e| Error::InvalidInput(format!("--engine: {e}")))?;
    let input_schema = match input_schema {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::InvalidInput(format!("--input-schema {}: {e}", path.display()))
            })?;
            Some(serde_json::from_str(&text).map_err(|e| {
                Error::InvalidInput(format!("--input-schema {}: not JSON: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let engines = crate::engines::Engines::from_config(&config.engines)
        .map_err(|e| Error::Startup(e.to_string()))?;
    let report = crate::agents::import(
        store.as_ref(),
        &engines,
        crate::agents::ImportRequest {
            engine_type,
            flow_id,
            name,
            tool_name,
            input_schema,
            publish,
        },
    )
    .await?;
    let a = &report.agent;
    println!(
        "{} agent {} ({}) from {} flow {}: status {}",
        if report.created { "created" } else { "updated" },
        a.tool_name,
        a.name,
        a.engine_type,
        a.engine_flow_id,
        a.status
    );
    if !a.required_credential_types.is_empty() {
        println!(
            "  needs credentials: {}",
            a.required_credential_types.join(", ")
        );
    }
    for w in &report.description.warnings {
        eprintln!("warning: {w}");
    }
    if !report.description.publish_blockers.is_empty() {
        for b in &report.description.publish_blockers {
            eprintln!("problem: {b}");
        }
        if publish {
            return Err(Error::Conflict(format!(
                "refusing to publish {}: fix the problems above and import again",
                a.tool_name
            )));
        }
    }
    Ok(())
}

async fn agents_apply(
    config: &Config,
    store: store::DynStore,
    dir: &std::path::Path,
    dry_run: bool,
    prune: bool,
    no_engine_check: bool,
) -> Result<()> {
    let engines = crate::engines::Engines::from_config(&config.engines)
        .map_err(|e| Error::Startup(e.to_string()))?;
    let options = crate::manifests::ApplyOptions {
        dry_run,
        prune,
        skip_engine_checks: no_engine_check,
    };
    let report = match crate::manifests::apply(store.as_ref(), &engines, dir, options).await {
        Ok(report) => report,
        Err(Error::Refused { message, problems }) => {
            for p in &problems {
                eprintln!("problem: {p}");
            }
            return Err(Error::InvalidInput(message));
        }
        Err(e) => return Err(e),
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for (tool_name, action) in &report.actions {
        println!("{}\t{tool_name}", action.as_str());
    }
    use crate::manifests::Action;
    println!(
        "{}{} created, {} updated, {} unchanged, {} archived",
        if dry_run {
            "dry run (nothing applied): "
        } else {
            ""
        },
        report.count(Action::Created),
        report.count(Action::Updated),
        report.count(Action::Unchanged),
        report.count(Action::Archived)
    );
    Ok(())
}

async fn vault_status(config: &Config, store: store::DynStore) -> Result<()> {
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

async fn vault_rotate(
    config: &Config,
    store: store::DynStore,
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

/// Read a credential value from stdin: trailing newlines are dropped, an
/// empty value is refused, the buffer is zeroized.
fn read_secret_from_stdin() -> Result<SecretString> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the secret, then press Enter and Ctrl-D:");
    }
    let mut buffer = zeroize::Zeroizing::new(Vec::new());
    stdin
        .lock()
        .take(crate::vault::MAX_SECRET_BYTES as u64 + 2)
        .read_to_end(&mut buffer)?;
    let text = std::str::from_utf8(&buffer)
        .map_err(|_| Error::InvalidInput("the secret on stdin is not valid UTF-8".into()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err(Error::InvalidInput(
            "no secret on stdin; pipe it in, e.g. printf %s \"$OPENAI_API_KEY\" | vieagent credentials set …".into(),
        ));
    }
    Ok(SecretString::from(text))
}

/// Open the store for a one-shot command; the schema must be current.
/// RFC 3339, or a date (midnight UTC).
fn parse_when(flag: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{flag}: '{value}' is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

async fn credits_command(store: store::DynStore, cmd: CreditsCommand) -> Result<()> {
    match cmd {
        CreditsCommand::Grant {
            user,
            amount,
            reason,
        } => {
            let user = accounts::user_by_email(store.as_ref(), &user).await?;
            let entry =
                crate::billing::adjust_credits(store.as_ref(), user.id, amount, &reason).await?;
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
}

async fn entitlements_command(store: store::DynStore, cmd: EntitlementsCommand) -> Result<()> {
    match cmd {
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
            };
            let e =
                crate::billing::grant_entitlement(store.as_ref(), None, user.id, &agent, &grant)
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
            let id = uuid::Uuid::parse_str(&id)
                .map_err(|_| Error::InvalidInput(format!("'{id}' is not an entitlement id")))?;
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
}

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
