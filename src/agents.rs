//! Agent catalog operations shared by the CLI and the admin API: importing
//! an agent from a live engine flow, tool-name rules, publish checks.

use serde::Serialize;
use serde_json::Value;

use crate::engines::{Engines, FlowDescription, valid_flow_id};
use crate::error::{Error, Result};
use crate::store::{Agent, AgentPatch, AgentStatus, EngineType, NewAgent, Store, StoreError};

/// `^[A-Za-z0-9_.-]{1,64}$`: valid, stable MCP tool names.
pub fn validate_tool_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "tool_name: must match ^[A-Za-z0-9_.-]{1,64}$".into(),
        ))
    }
}

/// A tool name derived from a display name: lower-case ASCII letters,
/// digits and `_`, at most 64 characters.
pub fn slug_tool_name(name: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    let mut out: String = out.trim_end_matches('_').chars().take(64).collect();
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        let fallback: String = fallback
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        format!("flow_{}", fallback.to_ascii_lowercase())
    } else {
        out
    }
}

/// What `agents import` should do.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub engine_type: EngineType,
    pub flow_id: String,
    pub name: Option<String>,
    pub tool_name: Option<String>,
    /// Required when the flow cannot describe its own inputs.
    pub input_schema: Option<Value>,
    pub publish: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub agent: Agent,
    pub created: bool,
    pub published: bool,
    pub description: FlowDescription,
}

/// Create or update the agent for a live flow, from the engine's description.
/// Publishing is refused (the agent stays a draft) while the engine reports
/// blockers, e.g. credential overrides Flowise would silently drop.
pub async fn import(
    store: &dyn Store,
    engines: &Engines,
    req: ImportRequest,
) -> Result<ImportReport> {
    valid_flow_id(&req.flow_id).map_err(|e| Error::InvalidInput(format!("flow_id: {e}")))?;
    let engine = engines
        .get(req.engine_type)
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let description = engine.describe(&req.flow_id).await.map_err(|e| {
        Error::InvalidInput(format!(
            "cannot read the flow from {}: {e}",
            req.engine_type
        ))
    })?;
    let input_schema = match (&req.input_schema, &description.input_schema) {
        (Some(given), _) => given.clone(),
        (None, Some(derived)) => derived.clone(),
        (None, None) => {
            return Err(Error::InvalidInput(format!(
                "the flow does not declare its inputs ({}); pass an input schema",
                description.warnings.join("; ")
            )));
        }
    };
    if input_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Error::InvalidInput(
            "input_schema: must have \"type\": \"object\"".into(),
        ));
    }
    let name = req.name.clone().unwrap_or_else(|| description.name.clone());
    let tool_name = req
        .tool_name
        .clone()
        .unwrap_or_else(|| slug_tool_name(&name, &req.flow_id));
    validate_tool_name(&tool_name)?;

    let existing = store.get_agent_by_tool_name(&tool_name).await?;
    if let Some(agent) = &existing
        && (agent.engine_type != req.engine_type || agent.engine_flow_id != req.flow_id)
    {
        return Err(Error::Conflict(format!(
            "tool_name {tool_name} already belongs to another flow ({} {}); choose another tool name",
            agent.engine_type, agent.engine_flow_id
        )));
    }
    let publishable = description.publish_blockers.is_empty();
    let status = match (&existing, req.publish, publishable) {
        (_, true, true) => AgentStatus::Published,
        (_, true, false) => AgentStatus::Draft,
        (Some(agent), false, false) if agent.status == AgentStatus::Published => AgentStatus::Draft,
        (Some(agent), false, _) => agent.status,
        (None, false, _) => AgentStatus::Draft,
    };
    let (agent, created) = match existing {
        Some(agent) => {
            let updated = store
                .update_agent(
                    agent.id,
                    &AgentPatch {
                        name: Some(name),
                        description: Some(description.description.clone()),
                        input_schema: Some(input_schema),
                        required_credential_types: Some(
                            description.required_credential_types.clone(),
                        ),
                        engine_config: Some(description.engine_config.clone()),
                        status: Some(status),
                        ..AgentPatch::default()
                    },
                )
                .await?;
            (updated, false)
        }
        None => {
            let created = store
                .create_agent(&NewAgent {
                    name,
                    tool_name: tool_name.clone(),
                    description: description.description.clone(),
                    engine_type: req.engine_type,
                    engine_flow_id: req.flow_id.clone(),
                    input_schema,
                    required_credential_types: description.required_credential_types.clone(),
                    price_one_time: None,
                    price_monthly: None,
                    credits_per_call: 1,
                    status,
                    engine_config: description.engine_config.clone(),
                    timeout_ms: None,
                })
                .await
                .map_err(|e| match e {
                    StoreError::UniqueViolation { .. } => {
                        Error::Conflict(format!("tool_name {tool_name} is already taken"))
                    }
                    other => other.into(),
                })?;
            (created, true)
        }
    };
    Ok(ImportReport {
        published: agent.status == AgentStatus::Published,
        agent,
        created,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_tool_names() {
        assert_eq!(
            slug_tool_name("Customer Support Q&A!", "x"),
            "customer_support_q_a"
        );
        assert_eq!(slug_tool_name("Tóm tắt văn bản", "x"), "t_m_t_t_v_n_b_n");
        assert_eq!(slug_tool_name("!!!", "3f1c0a9e-1b2c"), "flow_3f1c0a9e1b2c");
        let long = slug_tool_name(&"a".repeat(100), "x");
        assert_eq!(long.len(), 64);
        for s in ["Customer Support Q&A!", "!!!", "___a___"] {
            validate_tool_name(&slug_tool_name(s, "f")).expect("valid");
        }
        assert!(validate_tool_name("../x").is_err());
        assert!(validate_tool_name("").is_err());
        assert!(validate_tool_name(&"a".repeat(65)).is_err());
    }
}
