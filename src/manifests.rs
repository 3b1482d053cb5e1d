//! The declarative agent catalog: `manifests/agents/*.yaml`, one agent per
//! file, applied with `vieagent agents apply DIR [--dry-run] [--prune]`.
//!
//! Every file is read and checked before anything changes; if any is invalid
//! all problems are reported (file and field) and nothing is applied. The
//! changes are then written in one transaction: all or nothing. Agents are
//! matched by `tool_name`; `--prune` archives agents no manifest mentions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agents::{self, AgentDefinition, PriceInput};
use crate::engines::Engines;
use crate::error::{Error, OnConstraint, Result};
use crate::store::{
    Agent, AgentChange, AgentFilter, AgentPatch, AgentStatus, EngineType, NewAgent, NewAuditEntry,
    Store, TaskMode, schema_order,
};

/// One agent manifest file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentManifest {
    pub name: String,
    pub tool_name: String,
    #[serde(default)]
    pub description: String,
    pub engine: EngineType,
    pub flow_id: String,
    /// The tool's arguments (JSON Schema), or `from_engine: true`.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// Read the input schema (and credential types, if not given) from the live flow.
    #[serde(default)]
    pub from_engine: bool,
    #[serde(default)]
    pub required_credential_types: Option<Vec<String>>,
    #[serde(default)]
    pub price_one_time: Option<PriceInput>,
    #[serde(default)]
    pub price_monthly: Option<PriceInput>,
    #[serde(default = "default_credits")]
    pub credits_per_call: i32,
    #[serde(default = "default_status")]
    pub status: AgentStatus,
    #[serde(default)]
    pub engine_config: Option<Value>,
    #[serde(default)]
    pub timeout_ms: Option<i32>,
    /// Charge failed calls too (default: only successful calls).
    #[serde(default)]
    pub charge_failed_calls: bool,
    /// `auto` (default), `never` or `always`: how calls run for MCP clients
    /// with the Tasks extension.
    #[serde(default)]
    pub task_mode: TaskMode,
}

fn default_credits() -> i32 {
    1
}
fn default_status() -> AgentStatus {
    AgentStatus::Draft
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    pub dry_run: bool,
    pub prune: bool,
    /// Skip the engine publish checks (offline review of a catalog).
    pub skip_engine_checks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Archived,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Archived => "archived",
        }
    }
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    /// (tool name, what happened), in file order then pruned agents.
    pub actions: Vec<(String, Action)>,
    pub warnings: Vec<String>,
}

impl ApplyReport {
    pub fn count(&self, action: Action) -> usize {
        self.actions.iter().filter(|(_, a)| *a == action).count()
    }
}

/// Manifest files in a directory, sorted: `*.yaml` and `*.yml`.
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| x == "yaml" || x == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no *.yaml manifests in {}",
            dir.display()
        )));
    }
    Ok(files)
}

/// Read, check and resolve every manifest; all problems at once.
async fn load(
    dir: &Path,
    engines: &Engines,
) -> Result<(Vec<(PathBuf, NewAgent, AgentStatus)>, Vec<String>)> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in manifest_files(dir)? {
        let shown = file.display().to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{shown}: cannot read: {e}"));
                continue;
            }
        };
        let manifest: AgentManifest = match yaml_serde::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        if let Some(first) = seen.get(&manifest.tool_name) {
            problems.push(format!(
                "{shown}: tool_name {} is also used by {}",
                manifest.tool_name,
                first.display()
            ));
        }
        seen.insert(manifest.tool_name.clone(), file.clone());
        let (input_schema, credential_types, engine_config) = match (
            manifest.from_engine,
            &manifest.input_schema,
        ) {
            (true, Some(_)) => {
                problems.push(format!(
                    "{shown}: input_schema: give either input_schema or from_engine: true, not both"
                ));
                continue;
            }
            (false, None) => {
                problems.push(format!(
                    "{shown}: input_schema: required (or set from_engine: true)"
                ));
                continue;
            }
            (false, Some(schema)) => (
                schema.clone(),
                manifest
                    .required_credential_types
                    .clone()
                    .unwrap_or_default(),
                manifest.engine_config.clone(),
            ),
            (true, None) => {
                let described = match engines.get(manifest.engine) {
                    Ok(engine) => engine
                        .describe(&manifest.flow_id)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match described {
                    Ok(d) => match d.input_schema {
                        Some(schema) => {
                            warnings.extend(d.warnings.iter().map(|w| format!("{shown}: {w}")));
                            let mut config = d.engine_config.clone();
                            if let (Some(Value::Object(given)), Value::Object(derived)) =
                                (&manifest.engine_config, &mut config)
                            {
                                derived.extend(given.clone());
                            }
                            (
                                schema,
                                manifest
                                    .required_credential_types
                                    .clone()
                                    .unwrap_or(d.required_credential_types),
                                Some(config),
                            )
                        }
                        None => {
                            problems.push(format!("{shown}: from_engine: the flow does not declare its inputs; give input_schema"));
                            continue;
                        }
                    },
                    Err(e) => {
                        problems.push(format!("{shown}: from_engine: {e}"));
                        continue;
                    }
                }
            }
        };
        let definition = AgentDefinition {
            name: manifest.name.clone(),
            tool_name: manifest.tool_name.clone(),
            description: manifest.description.clone(),
            engine_type: manifest.engine,
            engine_flow_id: manifest.flow_id.clone(),
            input_schema,
            required_credential_types: credential_types,
            price_one_time: manifest.price_one_time.clone(),
            price_monthly: manifest.price_monthly.clone(),
            credits_per_call: manifest.credits_per_call,
            engine_config,
            timeout_ms: manifest.timeout_ms,
            charge_failed_calls: manifest.charge_failed_calls,
            task_mode: manifest.task_mode,
        };
        match definition.validate() {
            Ok(new) => out.push((file.clone(), new, manifest.status)),
            Err(errors) => {
                for e in errors {
                    problems.push(format!(
                        "{shown}: {}: {} (rule: {})",
                        manifest_field(&e.field),
                        e.message,
                        e.rule
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok((out, warnings))
    } else {
        Err(Error::Refused {
            message: format!(
                "{} problem(s) in the manifests; nothing was applied",
                problems.len()
            ),
            problems,
        })
    }
}

/// The manifest's spelling of a definition field.
fn manifest_field(field: &str) -> String {
    match field {
        "engine_type" => "engine".into(),
        "engine_flow_id" => "flow_id".into(),
        other => other.into(),
    }
}

fn differs(current: &Agent, new: &NewAgent, status: AgentStatus) -> bool {
    current.name != new.name
        || current.description != new.description
        || current.engine_type != new.engine_type
        || current.engine_flow_id != new.engine_flow_id
        || current.input_schema != new.input_schema
        // `!=` on JSON values does not see order: a manifest that only
        // moves fields is a change (the form's order), and rewriting the
        // schema records its order on rows written before migration 0019.
        || !schema_order::same_order(&current.input_schema, &new.input_schema)
        || current.required_credential_types != new.required_credential_types
        || current.price_one_time != new.price_one_time
        || current.price_monthly != new.price_monthly
        || current.credits_per_call != new.credits_per_call
        || current.engine_config != new.engine_config
        || current.timeout_ms != new.timeout_ms
        || current.charge_failed_calls != new.charge_failed_calls
        || current.task_mode != new.task_mode
        || current.status != status
}

fn preview(new: &NewAgent, status: AgentStatus) -> Agent {
    Agent {
        id: uuid::Uuid::nil(),
        name: new.name.clone(),
        tool_name: new.tool_name.clone(),
        description: new.description.clone(),
        engine_type: new.engine_type,
        engine_flow_id: new.engine_flow_id.clone(),
        input_schema: new.input_schema.clone(),
        required_credential_types: new.required_credential_types.clone(),
        price_one_time: new.price_one_time,
        price_monthly: new.price_monthly,
        credits_per_call: new.credits_per_call,
        status,
        engine_config: new.engine_config.clone(),
        timeout_ms: new.timeout_ms,
        charge_failed_calls: new.charge_failed_calls,
        task_mode: new.task_mode,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    }
}

async fn all_agents(store: &dyn Store) -> Result<Vec<Agent>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_agents(&AgentFilter {
                after_tool_name: after.clone(),
                limit: Some(1000),
                ..AgentFilter::default()
            })
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(|a| a.tool_name.clone());
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Plan and (unless `dry_run`) apply a manifest directory.
pub async fn apply(
    store: &dyn Store,
    engines: &Engines,
    dir: &Path,
    options: ApplyOptions,
) -> Result<ApplyReport> {
    let (desired, warnings) = load(dir, engines).await?;
    let existing: BTreeMap<String, Agent> = all_agents(store)
        .await?
        .into_iter()
        .map(|a| (a.tool_name.clone(), a))
        .collect();
    let mut report = ApplyReport {
        warnings,
        ..ApplyReport::default()
    };
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for (file, new, status) in &desired {
        let current = existing.get(&new.tool_name);
        let action = match current {
            None => Action::Created,
            Some(c) if differs(c, new, *status) => Action::Updated,
            Some(_) => Action::Unchanged,
        };
        if *status == AgentStatus::Published
            && action != Action::Unchanged
            && !options.skip_engine_checks
        {
            for p in agents::publish_problems(engines, &preview(new, *status)).await {
                problems.push(format!(
                    "{}: cannot publish {}: {p}",
                    file.display(),
                    new.tool_name
                ));
            }
        }
        match (action, current) {
            (Action::Created, _) => changes.push(AgentChange::Create(NewAgent {
                status: *status,
                ..new.clone()
            })),
            (Action::Updated, Some(c)) => changes.push(AgentChange::Update(
                c.id,
                AgentPatch {
                    name: Some(new.name.clone()),
                    tool_name: None,
                    description: Some(new.description.clone()),
                    engine_type: Some(new.engine_type),
                    engine_flow_id: Some(new.engine_flow_id.clone()),
                    input_schema: Some(new.input_schema.clone()),
                    required_credential_types: Some(new.required_credential_types.clone()),
                    price_one_time: Some(new.price_one_time),
                    price_monthly: Some(new.price_monthly),
                    credits_per_call: Some(new.credits_per_call),
                    status: Some(*status),
                    engine_config: Some(new.engine_config.clone()),
                    timeout_ms: Some(new.timeout_ms),
                    charge_failed_calls: Some(new.charge_failed_calls),
                    task_mode: Some(new.task_mode),
                },
            )),
            _ => {}
        }
        report.actions.push((new.tool_name.clone(), action));
    }
    if options.prune {
        let named: BTreeSet<&str> = desired
            .iter()
            .map(|(_, n, _)| n.tool_name.as_str())
            .collect();
        for (tool_name, agent) in &existing {
            if !named.contains(tool_name.as_str()) && agent.status != AgentStatus::Archived {
                changes.push(AgentChange::Update(
                    agent.id,
                    AgentPatch {
                        status: Some(AgentStatus::Archived),
                        ..AgentPatch::default()
                    },
                ));
                report.actions.push((tool_name.clone(), Action::Archived));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused {
            message: format!(
                "{} problem(s) in the manifests; nothing was applied",
                problems.len()
            ),
            problems,
        });
    }
    if options.dry_run || changes.is_empty() {
        return Ok(report);
    }
    store.apply_agent_changes(&changes).await.on_unique(|| {
        Error::Conflict(
            "a tool_name was taken while applying; nothing was applied, run again".into(),
        )
    })?;
    for (tool_name, action) in &report.actions {
        if *action == Action::Unchanged {
            continue;
        }
        let entry = NewAuditEntry {
            actor_user_id: None,
            actor: "cli".into(),
            action: format!("agent.apply.{}", action.as_str()),
            target_type: "agent".into(),
            target_id: Some(tool_name.clone()),
            details: json!({"source": dir.display().to_string()}),
        };
        if let Err(e) = store.insert_audit(&entry).await {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
    Ok(report)
}
