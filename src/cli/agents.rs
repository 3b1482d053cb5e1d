//! `vieagent agents`: import from a live engine flow, apply a directory of
//! manifests, list.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::util::with_store;
use crate::config::Config;
use crate::engines::Engines;
use crate::error::{Error, Result};
use crate::store::{self, DynStore};

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create or update an agent from a live engine flow (name, input schema,
    /// credential types are read from the engine).
    Import(ImportArgs),
    /// Apply a directory of agent manifests (*.yaml): create, update, and with
    /// --prune archive agents the manifests no longer mention. All or nothing.
    Apply(ApplyArgs),
    /// List agents.
    List,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
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
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
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
}

impl AgentsCommand {
    pub async fn run(self, config: &Config) -> Result<()> {
        with_store(config, |store| async move {
            match self {
                AgentsCommand::Import(args) => import(config, store, args).await,
                AgentsCommand::Apply(args) => apply(config, store, args).await,
                AgentsCommand::List => list(store).await,
            }
        })
        .await
    }
}

async fn list(store: DynStore) -> Result<()> {
    for a in store
        .list_agents(&store::AgentFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await?
    {
        println!(
            "{}\t{}\t{}\t{} {}\t{}",
            a.tool_name, a.status, a.name, a.engine_type, a.engine_flow_id, a.id
        );
    }
    Ok(())
}

async fn import(config: &Config, store: DynStore, args: ImportArgs) -> Result<()> {
    let ImportArgs {
        engine,
        flow_id,
        name,
        tool_name,
        input_schema,
        publish,
    } = args;
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
    let engines =
        Engines::from_config(&config.engines).map_err(|e| Error::Startup(e.to_string()))?;
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

async fn apply(config: &Config, store: DynStore, args: ApplyArgs) -> Result<()> {
    let ApplyArgs {
        dir,
        dry_run,
        prune,
        no_engine_check,
    } = args;
    let engines =
        Engines::from_config(&config.engines).map_err(|e| Error::Startup(e.to_string()))?;
    let options = crate::manifests::ApplyOptions {
        dry_run,
        prune,
        skip_engine_checks: no_engine_check,
    };
    let report = match crate::manifests::apply(store.as_ref(), &engines, &dir, options).await {
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
