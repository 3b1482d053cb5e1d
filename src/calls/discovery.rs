//! The discovery tools a scoped request sees beside its agents
//! (`catalog.toolbox = "chosen"`, toolsets): `search_agents` searches the
//! marketplace, `add_agent` and `remove_agent` change the set the request
//! shows (the toolbox, or the toolset it came through). They run here, not
//! in an engine: nothing is charged or journaled, and their results are
//! tool results like an agent's (text for the model, `structuredContent`
//! for programs).

use std::sync::{Arc, OnceLock};

use rmcp::model::{Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admit::invalid_arguments;
use super::pipeline::Pipeline;
use super::settle::error_result;
use super::{CallError, CallRequest, ToolResult};
use crate::error::Error;
use crate::store::toolbox::TOOLBOX;
use crate::store::{ExecutionStatus, StoreError};
use crate::toolbox::{self, ADD_TOOL, Change, MAX_PAGE, Query, REMOVE_TOOL, SEARCH_TOOL};

struct Compiled {
    tools: Vec<Tool>,
    validators: Vec<(Value, jsonschema::Validator)>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let defs = definitions();
        let validators = defs
            .iter()
            .map(|(_, _, schema, _)| {
                let validator = crate::catalog::compile(schema)
                    .unwrap_or_else(|e| panic!("a discovery tool's schema: {e}"));
                (schema.clone(), validator)
            })
            .collect();
        let tools = defs
            .into_iter()
            .map(|(name, description, input, output)| {
                let object = |v: Value| Arc::new(v.as_object().cloned().unwrap_or_default());
                let mut tool = Tool::new(name, description, object(input));
                if let Some(output) = output {
                    tool.output_schema = Some(object(output));
                }
                let read_only = name == SEARCH_TOOL;
                tool.with_annotations(
                    ToolAnnotations::new()
                        .read_only(read_only)
                        .destructive(false)
                        .idempotent(true)
                        .open_world(false),
                )
            })
            .collect();
        Compiled { tools, validators }
    })
}

type Definition = (&'static str, &'static str, Value, Option<Value>);

fn definitions() -> Vec<Definition> {
    let tool_arg = json!({
        "type": "object",
        "properties": {"tool": {
            "type": "string", "minLength": 1, "maxLength": 64,
            "description": "The agent's tool name, as search_agents gives it."
        }},
        "required": ["tool"],
        "additionalProperties": false
    });
    let agent = json!({
        "type": "object",
        "properties": {
            "tool": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "price": {"type": ["string", "null"]},
            "bought": {"type": "boolean"},
            "needs_purchase": {"type": "boolean"},
            "in_toolbox": {"type": "boolean"},
            "in_toolset": {"type": "boolean", "description": "At a toolset's address: in that toolset."},
            "needs_keys": {"type": "array", "items": {"type": "string"}},
            "buy_url": {"type": ["string", "null"]}
        },
        "required": ["tool", "name", "description", "bought", "needs_purchase", "in_toolbox", "needs_keys"]
    });
    vec![
        (
            SEARCH_TOOL,
            "Search the VieAgent marketplace for agents (Vietnamese or English; accents optional). \
             Returns, best match first: each agent's tool name, name, description, price, whether \
             it is bought, whether it is in the user's toolbox, and the keys it needs. To use one, \
             call add_agent with its tool name; it then appears in your tool list.",
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "maxLength": toolbox::MAX_QUERY_CHARS,
                              "description": "What the agent should do, in a few words; empty lists every agent."},
                    "free": {"type": "boolean", "description": "Only agents that need no purchase."},
                    "bought": {"type": "boolean", "description": "Only agents the user has bought."},
                    "needs_key": {"type": "string", "maxLength": 64,
                                  "description": "Only agents that use a key of this type (e.g. openai)."},
                    "cursor": {"type": "string", "maxLength": 20,
                               "description": "next_cursor of the previous page."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                              "description": "Results per page (default 10)."}
                },
                "additionalProperties": false
            }),
            Some(json!({
                "type": "object",
                "properties": {
                    "agents": {"type": "array", "items": agent},
                    "next_cursor": {"type": ["string", "null"]}
                },
                "required": ["agents", "next_cursor"]
            })),
        ),
        (
            ADD_TOOL,
            "Add a marketplace agent to the user's toolbox (or, at a toolset's address, to that \
             toolset), so it appears in your tool list at once. A priced agent can be added \
             before it is bought; running it still needs the purchase.",
            tool_arg.clone(),
            None,
        ),
        (
            REMOVE_TOOL,
            "Remove an agent from the user's toolbox (or, at a toolset's address, from that \
             toolset). Its past runs stay in the user's history.",
            tool_arg,
            None,
        ),
    ]
}

/// The discovery tools' definitions, in the order they are listed.
pub fn tools() -> &'static [Tool] {
    &compiled().tools
}

#[derive(Deserialize)]
struct SearchArgs {
    #[serde(default)]
    query: String,
    #[serde(default)]
    free: bool,
    #[serde(default)]
    bought: bool,
    needs_key: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct ToolArg {
    tool: String,
}

/// Run `request` if it names a discovery tool its scope offers; `None`:
/// it is an agent's call.
pub(super) async fn run(
    p: &Pipeline,
    request: &CallRequest,
) -> Option<Result<ToolResult, CallError>> {
    let set = request.scope.set()?;
    let index = [SEARCH_TOOL, ADD_TOOL, REMOVE_TOOL]
        .iter()
        .position(|n| *n == request.tool_name)?;
    let (schema, validator) = &compiled().validators[index];
    let arguments = &request.arguments;
    if !arguments.is_object() {
        return Some(Err(CallError::ArgumentsNotObject));
    }
    let problems = super::argument_errors(validator, schema, arguments);
    if !problems.is_empty() {
        let (message, details) = invalid_arguments(&request.tool_name, &problems);
        return Some(Ok(error_result(
            None,
            "invalid_arguments",
            message,
            details,
        )));
    }
    let outcome = match request.tool_name.as_str() {
        SEARCH_TOOL => search(p, request, set).await,
        ADD_TOOL => add(p, request, set).await,
        _ => remove(p, request, set).await,
    };
    Some(match outcome {
        Ok(result) => Ok(result),
        Err(Error::NotFound(message)) => Ok(error_result(None, "not_found", message, json!({}))),
        Err(e @ (Error::Validation(_) | Error::InvalidInput(_))) => Ok(error_result(
            None,
            "invalid_arguments",
            e.to_string(),
            json!({}),
        )),
        // The agent went away between the lookup and the write.
        Err(Error::Store(StoreError::ForeignKeyViolation { .. })) => Ok(error_result(
            None,
            "not_found",
            "That agent is no longer in the marketplace; search again.".into(),
            json!({}),
        )),
        // Details in the log, not in the answer.
        Err(e) => {
            tracing::error!(error = %e, tool = %request.tool_name, "discovery tool failed");
            let what = match request.tool_name.as_str() {
                SEARCH_TOOL => "The marketplace could not be searched",
                _ => "The toolbox could not be changed",
            };
            Ok(error_result(
                None,
                "unavailable",
                format!("{what} just now; nothing changed. Try again shortly."),
                json!({"retry_after_ms": 5000}),
            ))
        }
    })
}

fn success(text: String, structured: Value) -> ToolResult {
    ToolResult {
        execution_id: None,
        status: ExecutionStatus::Success,
        is_error: false,
        text,
        structured,
        credits_consumed: 0,
        error_kind: None,
    }
}

fn parse<T: for<'de> Deserialize<'de>>(arguments: &Value) -> Result<T, Error> {
    // The schema was checked already; this cannot refuse what it passed.
    serde_json::from_value(arguments.clone()).map_err(|e| Error::InvalidInput(e.to_string()))
}

async fn search(p: &Pipeline, request: &CallRequest, set: &str) -> Result<ToolResult, Error> {
    let args: SearchArgs = parse(&request.arguments)?;
    let user = request.user.id;
    let snapshot = p.catalog().snapshot();
    let entitled = p.entitlements().active_agents(p.store(), user).await?;
    let toolbox = p.toolboxes().agents(p.store(), user, TOOLBOX).await?;
    // At a toolset's address: which results that toolset holds too.
    let toolset = match set {
        TOOLBOX => None,
        named => Some(p.toolboxes().agents(p.store(), user, named).await?),
    };
    let in_toolset = |hit: &toolbox::Hit| {
        toolset
            .as_ref()
            .map(|ids| ids.contains(&hit.entry.agent.id))
    };
    let query = Query {
        text: args.query.clone(),
        free: args.free,
        bought: args.bought,
        needs_key: args.needs_key,
        cursor: args.cursor,
        limit: args.limit,
    };
    let page = toolbox::search(p.store(), &snapshot, &entitled, &toolbox, &query).await?;
    let currency = &p.config().billing.currency;
    let agents: Vec<toolbox::Card> = page
        .hits
        .iter()
        .map(|h| toolbox::Card {
            in_toolset: in_toolset(h),
            ..h.card(p.config())
        })
        .collect();
    let mut text = if page.hits.is_empty() {
        format!(
            "No agent found for \"{}\". Try other or fewer words.",
            args.query
        )
    } else {
        format!("Agents for \"{}\", best match first:\n", args.query)
    };
    for hit in &page.hits {
        let agent = &hit.entry.agent;
        let mut facts = vec![if hit.priced {
            let price = crate::billing::price_text(agent, currency);
            if hit.bought {
                format!("{price}, bought")
            } else {
                format!("{price}, needs a purchase")
            }
        } else {
            "free".to_string()
        }];
        match in_toolset(hit) {
            Some(true) => facts.push(format!("in {}", request.scope.describe())),
            _ if hit.in_toolbox => facts.push("in your toolbox".into()),
            _ => {}
        }
        if !agent.required_credential_types.is_empty() {
            facts.push(format!(
                "needs keys: {}",
                agent.required_credential_types.join(", ")
            ));
        }
        text.push_str(&format!(
            "- {} ({}): {} [{}]\n",
            agent.tool_name,
            agent.name,
            one_line(&agent.description),
            facts.join("; ")
        ));
    }
    if !page.hits.is_empty() {
        text.push_str("To use one, call add_agent with its tool name.");
    }
    if let Some(next) = &page.next_cursor {
        text.push_str(&format!(
            "\nMore results: call search_agents again with cursor \"{next}\"."
        ));
    }
    Ok(success(
        text,
        json!({"agents": agents, "next_cursor": page.next_cursor}),
    ))
}

/// A description on one line, at most 200 characters.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= 200 {
        return line;
    }
    let cut: String = line.chars().take(199).collect();
    format!("{cut}…")
}

async fn add(p: &Pipeline, request: &CallRequest, set: &str) -> Result<ToolResult, Error> {
    let ToolArg { tool } = parse(&request.arguments)?;
    let user = request.user.id;
    let snapshot = p.catalog().snapshot();
    let (change, entry) = p.toolbox_editor().add(&snapshot, user, set, &tool).await?;
    let agent = &entry.agent;
    let bought = !crate::billing::is_priced(agent)
        || p.entitlements()
            .active_agents(p.store(), user)
            .await?
            .contains(&agent.id);
    let place = request.scope.describe();
    let mut text = match change {
        Change::Added => format!(
            "Added {} ({}) to {place}: it is in your tool list now.",
            agent.tool_name, agent.name
        ),
        _ => format!(
            "{} ({}) is already in {place}.",
            agent.tool_name, agent.name
        ),
    };
    let mut structured = json!({
        "tool": agent.tool_name,
        "change": change.as_str(),
        "toolset": (!set.is_empty()).then_some(set),
        "needs_purchase": !bought,
        "needs_keys": agent.required_credential_types,
    });
    if !bought {
        let buy = p
            .config()
            .marketplace
            .agent_page(&agent.id.to_string(), &agent.tool_name, None);
        text.push(' ');
        text.push_str(&crate::billing::purchase_line(
            agent,
            &p.config().billing.currency,
            buy.as_ref(),
        ));
        structured["buy_url"] = json!(buy.map(|u| u.to_string()));
    }
    Ok(success(text, structured))
}

async fn remove(p: &Pipeline, request: &CallRequest, set: &str) -> Result<ToolResult, Error> {
    let ToolArg { tool } = parse(&request.arguments)?;
    let snapshot = p.catalog().snapshot();
    let change = p
        .toolbox_editor()
        .remove(&snapshot, request.user.id, set, &tool)
        .await?;
    let place = request.scope.describe();
    let text = match change {
        Change::Removed if set.is_empty() => format!(
            "Removed {tool} from {place} and its toolsets; its past runs stay in the history."
        ),
        Change::Removed => {
            format!("Removed {tool} from {place}; its past runs stay in the history.")
        }
        _ => format!("{tool} was not in {place}; nothing changed."),
    };
    Ok(success(
        text,
        json!({
            "tool": tool,
            "change": change.as_str(),
            "toolset": (!set.is_empty()).then_some(set),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_compile_and_are_named_as_reserved() {
        let tools = tools();
        assert_eq!(tools.len(), 3);
        for tool in tools {
            assert!(
                crate::toolbox::is_discovery_tool(&tool.name),
                "{}",
                tool.name
            );
        }
        assert!(tools[0].output_schema.is_some());
        assert_eq!(one_line("a\n b  c"), "a b c");
        assert_eq!(one_line(&"x".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn schemas_refuse_what_the_arguments_cannot_be() {
        let (schema, validator) = &compiled().validators[0];
        let errors = super::super::argument_errors(validator, schema, &json!({"limit": 0, "x": 1}));
        assert_eq!(errors.len(), 2, "{errors:?}");
        let (schema, validator) = &compiled().validators[1];
        assert!(!super::super::argument_errors(validator, schema, &json!({})).is_empty());
    }
}
