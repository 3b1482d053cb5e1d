//! MCP Apps (`io.modelcontextprotocol/ui`, spec 2026-01-26): each agent's
//! Easy Mode form and its result, shown inside the assistant.
//!
//! Offered only to a client that declares the extension with the
//! `text/html;profile=mcp-app` MIME type (in `initialize`, or per request
//! under protocol 2026-07-28): its tools carry `_meta.ui.resourceUri`, and
//! `resources/list` names one app per visible agent. Every other client gets
//! exactly the tools it got before. `mcp.apps = false` offers it to no one.
//!
//! The app is one self-contained document, `assets/mcp-app.html` (inline
//! script and style, no network request of its own: its CSP allows none).
//! Each agent's resource is that document with the agent's data put in: its
//! name, its `input_schema` in the author's order, its price, and the
//! sentences it shows, in Vietnamese and English, from the web app's Fluent
//! catalogs (so `/app` and the app say the same things). No user's data is
//! in it: what the user may do comes back in each tool result.

use rmcp::model::{
    ClientCapabilities, ListResourcesResult, MetaObject, ReadResourceResult, Resource,
    ResourceContents, Tool,
};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::store::Agent;
use crate::web::i18n::{Lang, Tr};

/// The extension's identifier.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The MIME type of an MCP App's HTML.
pub const MIME_TYPE: &str = "text/html;profile=mcp-app";
/// Where every agent's app lives: `ui://vieagent/agents/<tool name>`.
const URI_PREFIX: &str = "ui://vieagent/agents/";

/// The app, as written (see the module docs).
const DOCUMENT: &str = include_str!("../../assets/mcp-app.html");
/// Where the agent's data goes in [`DOCUMENT`].
const DATA_MARK: &str = "<!--vieagent:data-->";

/// Whether `client` is offered apps: the setting is on and the client
/// declared the extension with the app MIME type.
pub fn offered(config: &Config, client: Option<&ClientCapabilities>) -> bool {
    config.mcp.apps
        && client
            .and_then(|c| c.extensions.as_ref())
            .and_then(|e| e.get(EXTENSION))
            .and_then(|ui| ui.get("mimeTypes"))
            .and_then(Value::as_array)
            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(MIME_TYPE)))
}

/// The app resource of a tool, at `version` (the agent's last change):
/// hosts may cache an app by its URI, so an edited agent's form gets a new
/// one (`?v=`), and the old one still reads as the current form.
pub fn resource_uri(tool_name: &str, version: i64) -> String {
    format!("{URI_PREFIX}{tool_name}?v={version}")
}

/// The tool an app resource belongs to (whatever its version).
pub fn tool_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix(URI_PREFIX)?;
    let name = rest.split_once('?').map_or(rest, |(name, _)| name);
    (!name.is_empty()).then_some(name)
}

/// An agent's version in its app's URI.
pub fn version_of(agent: &Agent) -> i64 {
    agent.updated_at.timestamp_micros()
}

/// `tool` as an app-capable client sees it: `_meta.ui.resourceUri` added
/// (and the key hosts read before the stable spec, `ui/resourceUri`).
pub fn with_ui(tool: &Tool, version: i64) -> Tool {
    let mut tool = tool.clone();
    let uri = resource_uri(&tool.name, version);
    let meta = tool.meta.get_or_insert_with(MetaObject::new);
    meta.0
        .insert("ui".into(), json!({ "resourceUri": uri.clone() }));
    meta.0.insert("ui/resourceUri".into(), Value::String(uri));
    tool
}

/// The resource's own `_meta.ui`: no network access at all (empty CSP
/// domain lists), a border around it.
fn resource_meta() -> MetaObject {
    let mut meta = MetaObject::new();
    meta.0.insert(
        "ui".into(),
        json!({
            "csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []},
            "prefersBorder": true,
        }),
    );
    meta
}

/// `resources/list` entries of `tools` (each with its agent's version).
pub fn list(tools: &[(&Tool, i64)], next_cursor: Option<String>) -> ListResourcesResult {
    let resources = tools
        .iter()
        .map(|(tool, version)| {
            let mut resource =
                Resource::new(resource_uri(&tool.name, *version), tool.name.to_string());
            resource.title = tool.title.clone();
            resource.description = Some(format!("Easy Mode form and result of {}", tool.name));
            resource.mime_type = Some(MIME_TYPE.into());
            resource.meta = Some(resource_meta());
            resource
        })
        .collect();
    let mut page = ListResourcesResult::with_all_items(resources);
    page.next_cursor = next_cursor;
    page
}

/// `resources/read` of an agent's app.
pub fn read(uri: &str, agent: &Agent, config: &Config) -> ReadResourceResult {
    let history = format!("{}app/history", config.public_base_url());
    ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
        uri: uri.to_string(),
        mime_type: Some(MIME_TYPE.into()),
        text: document(agent, &config.web.default_locale, &history),
        meta: Some(resource_meta()),
    }])
}

/// The app with `agent`'s data in it.
pub fn document(agent: &Agent, default_locale: &str, history_url: &str) -> String {
    let data = json!({
        "tool": agent.tool_name,
        "title": agent.name,
        "description": agent.description,
        "schema": with_key_order(agent.input_schema.clone(), 0),
        "creditsPerCall": agent.credits_per_call,
        "priced": agent.price_one_time.is_some_and(|p| !p.is_zero())
            || agent.price_monthly.is_some_and(|p| !p.is_zero()),
        "defaultLocale": default_locale,
        "historyUrl": history_url,
        "messages": messages(),
        "plurals": PLURALS.iter().map(|(id, count)| ((*id).to_string(), json!(count))).collect::<Map<_, _>>(),
    });
    // In a `<script type="application/json">`: nothing in it may close the
    // element, or open a comment (`<` is escaped; JSON reads it back).
    let json = data.to_string().replace('<', "\\u003c");
    let script = format!(r#"<script type="application/json" id="vieagent-data">{json}</script>"#);
    DOCUMENT.replacen(DATA_MARK, &script, 1)
}

/// `schema` with `x-vieagent-order` (the keys in the author's order) beside
/// each `properties` map that has an index-like key: JavaScript objects put
/// those first (`{"b":…,"1":…}` reads back as `1, b`), so the app would
/// show them out of order.
fn with_key_order(mut schema: Value, depth: usize) -> Value {
    if depth > 64 {
        return schema;
    }
    match &mut schema {
        Value::Object(map) => {
            let order = map
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| {
                    p.keys()
                        .any(|k| k.parse::<u32>().is_ok_and(|n| n.to_string() == *k))
                        .then(|| json!(p.keys().collect::<Vec<_>>()))
                });
            for value in map.values_mut() {
                *value = with_key_order(std::mem::take(value), depth + 1);
            }
            if let Some(order) = order {
                map.insert("x-vieagent-order".into(), order);
            }
        }
        Value::Array(items) => {
            for value in items.iter_mut() {
                *value = with_key_order(std::mem::take(value), depth + 1);
            }
        }
        _ => {}
    }
    schema
}

/// The app's sentences in every language, rendered once: the catalogs
/// are compiled in, so every agent's document carries the same.
fn messages() -> &'static Value {
    static MESSAGES: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    MESSAGES.get_or_init(|| {
        Value::Object(
            Lang::ALL
                .iter()
                .map(|lang| (lang.code().to_string(), catalog(Tr::new(*lang))))
                .collect(),
        )
    })
}

/// Every message the app shows, by id, with its arguments left as
/// `{name}` for the app to fill; a plural one also as `<id>#one`, written
/// with its count as 1 (the app picks it when the count's plural form in
/// the language is "one").
fn catalog(tr: Tr) -> Value {
    let mut out = Map::new();
    for (id, names) in MESSAGES {
        out.insert(
            (*id).to_string(),
            Value::String(tr.template(id, names, None)),
        );
        if let Some((_, count)) = PLURALS.iter().find(|(p, _)| p == id) {
            out.insert(
                format!("{id}#one"),
                Value::String(tr.template(id, names, Some(count))),
            );
        }
    }
    Value::Object(out)
}

/// The plural messages of [`MESSAGES`], with the argument that counts.
const PLURALS: &[(&str, &str)] = &[
    ("mcpapp-cost", "credits"),
    ("help-length-max", "max"),
    ("help-max-items", "n"),
    ("error-min-length", "n"),
    ("error-max-length", "n"),
    ("error-min-items", "n"),
    ("error-max-items", "n"),
];

/// The messages of the app: its own (`mcpapp-*`) and the form's, shared
/// with `/app`.
const MESSAGES: &[(&str, &[&str])] = &[
    ("mcpapp-intro", &[]),
    ("mcpapp-waiting", &[]),
    ("mcpapp-run", &[]),
    ("mcpapp-running", &[]),
    ("mcpapp-running-for", &["seconds"]),
    ("mcpapp-result", &[]),
    ("mcpapp-details", &[]),
    ("mcpapp-field", &[]),
    ("mcpapp-value", &[]),
    ("mcpapp-failed", &[]),
    ("mcpapp-key-needed", &[]),
    ("mcpapp-not-bought", &[]),
    ("mcpapp-no-credits", &[]),
    ("mcpapp-cancelled", &[]),
    ("mcpapp-fix-fields", &[]),
    ("mcpapp-connect", &[]),
    ("mcpapp-connect-why", &["providers"]),
    ("mcpapp-buy", &[]),
    ("mcpapp-buy-why", &[]),
    ("mcpapp-top-up", &[]),
    ("mcpapp-credits-why", &[]),
    ("mcpapp-link-not-opened", &[]),
    ("mcpapp-cost", &["credits"]),
    ("mcpapp-priced", &[]),
    ("mcpapp-call-failed", &[]),
    ("mcpapp-still-running", &[]),
    ("mcpapp-still-running-why", &[]),
    ("mcpapp-open-history", &[]),
    ("form-required-note", &[]),
    ("form-required", &[]),
    ("form-choose", &[]),
    ("form-unset", &[]),
    ("form-add-row", &["item"]),
    ("form-remove", &[]),
    ("form-no-rows", &[]),
    ("form-arguments-json", &[]),
    ("form-json-help", &[]),
    ("yes", &[]),
    ("no", &[]),
    ("help-length-range", &["min", "max"]),
    ("help-length-min", &["min"]),
    ("help-length-max", &["max"]),
    ("help-integer-range", &["min", "max"]),
    ("help-number-range", &["min", "max"]),
    ("help-min", &["min"]),
    ("help-max", &["max"]),
    ("help-integer", &[]),
    ("help-max-items", &["n"]),
    ("help-default", &["value"]),
    ("help-format-email", &[]),
    ("help-format-uri", &[]),
    ("help-format-uuid", &[]),
    ("error-choose", &["field"]),
    ("error-choose-yes-no", &["field"]),
    ("error-add-row", &["field"]),
    ("error-required", &["field"]),
    ("error-json", &[]),
    ("error-choose-option", &[]),
    ("error-text", &[]),
    ("error-min-length", &["n"]),
    ("error-max-length", &["n"]),
    ("error-min-items", &["n"]),
    ("error-max-items", &["n"]),
    ("error-unique-items", &[]),
    ("error-pattern", &[]),
    ("error-unexpected", &["names"]),
    ("error-not-accepted", &[]),
    ("error-format-email", &[]),
    ("error-format-date", &[]),
    ("error-format-date-time", &[]),
    ("error-format-time", &[]),
    ("error-format-uri", &[]),
    ("error-format-uuid", &[]),
    ("error-integer-range", &["min", "max"]),
    ("error-number-range", &["min", "max"]),
    ("error-integer-min", &["min"]),
    ("error-number-min", &["min"]),
    ("error-integer-max", &["max"]),
    ("error-number-max", &["max"]),
    ("error-integer-gt", &["min"]),
    ("error-number-gt", &["min"]),
    ("error-integer-lt", &["max"]),
    ("error-number-lt", &["max"]),
    ("error-integer", &[]),
    ("error-number", &[]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(value: Value) -> ClientCapabilities {
        serde_json::from_value(value).expect("capabilities")
    }

    #[test]
    fn only_clients_declaring_the_app_mime_type_are_offered_apps() {
        let mut config = Config::default();
        let ui = caps(json!({"extensions": {EXTENSION: {"mimeTypes": [MIME_TYPE]}}}));
        assert!(offered(&config, Some(&ui)));
        for other in [
            json!({}),
            json!({"extensions": {}}),
            json!({"extensions": {EXTENSION: {}}}),
            json!({"extensions": {EXTENSION: {"mimeTypes": ["text/html"]}}}),
            json!({"experimental": {EXTENSION: {"mimeTypes": [MIME_TYPE]}}}),
        ] {
            assert!(!offered(&config, Some(&caps(other.clone()))), "{other}");
        }
        assert!(!offered(&config, None));
        config.mcp.apps = false;
        assert!(!offered(&config, Some(&ui)), "mcp.apps = false");
    }

    #[test]
    fn plural_messages_have_their_one_form_written_out() {
        let Value::Object(en) = catalog(Tr::new(Lang::En)) else {
            panic!("an object");
        };
        assert_eq!(en["error-max-items"], "Keep at most {n} rows.");
        assert_eq!(en["error-max-items#one"], "Keep at most 1 row.");
        assert_eq!(en["mcpapp-cost#one"], "1 credit per run");
        for (id, _) in PLURALS {
            assert!(MESSAGES.iter().any(|(m, _)| m == id), "{id}");
            assert!(en.contains_key(&format!("{id}#one")), "{id}");
        }
    }

    #[test]
    fn index_like_keys_get_their_order_written_out() {
        let schema = json!({"type": "object", "properties": {
            "b": {}, "10": {}, "a": {"type": "object", "properties": {"y": {}, "x": {}}},
            "n": {"type": "object", "properties": {"z": {}, "2": {}, "01": {}}}}});
        let out = with_key_order(schema, 0);
        assert_eq!(out["x-vieagent-order"], json!(["b", "10", "a", "n"]));
        assert!(
            out["properties"]["a"].get("x-vieagent-order").is_none(),
            "no index-like key"
        );
        assert_eq!(
            out["properties"]["n"]["x-vieagent-order"],
            json!(["z", "2", "01"])
        );
    }

    #[test]
    fn uris_name_their_tool() {
        assert_eq!(
            resource_uri("plan_trip", 42),
            "ui://vieagent/agents/plan_trip?v=42"
        );
        assert_eq!(
            tool_of("ui://vieagent/agents/plan_trip?v=42"),
            Some("plan_trip")
        );
        assert_eq!(tool_of("ui://vieagent/agents/plan_trip"), Some("plan_trip"));
        assert_eq!(tool_of("ui://vieagent/agents/?v=1"), None);
        assert_eq!(tool_of("ui://vieagent/agents/"), None);
        assert_eq!(tool_of("ui://other/agents/plan_trip"), None);
    }

    #[test]
    fn every_message_is_filled_in_both_languages_with_placeholders() {
        for lang in Lang::ALL {
            let Value::Object(messages) = catalog(Tr::new(lang)) else {
                panic!("an object");
            };
            for (id, names) in MESSAGES {
                let text = messages[*id].as_str().expect("text");
                assert_ne!(text, *id, "{id} is missing in {}", lang.code());
                for name in *names {
                    assert!(
                        text.contains(&format!("{{{name}}}")),
                        "{id} ({}) does not use {{{name}}}: {text}",
                        lang.code()
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_holds_its_data_once_and_nothing_closes_the_script() {
        assert_eq!(DOCUMENT.matches(DATA_MARK).count(), 1);
        let agent = Agent {
            id: uuid::Uuid::new_v4(),
            name: "Writer".into(),
            tool_name: "writer".into(),
            description: "</script><script>alert(1)</script> <!-- x".into(),
            engine_type: crate::store::EngineType::Flowise,
            engine_flow_id: "f".into(),
            input_schema: json!({"type": "object", "properties": {"b": {}, "a": {}}}),
            required_credential_types: Vec::new(),
            price_one_time: None,
            price_monthly: None,
            credits_per_call: 1,
            status: crate::store::AgentStatus::Published,
            engine_config: json!({}),
            timeout_ms: None,
            charge_failed_calls: false,
            task_mode: Default::default(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let html = document(&agent, "vi", "http://localhost:8080/app/history");
        assert!(!html.contains(DATA_MARK));
        assert!(!html.contains("</script><script>alert(1)"));
        assert!(!html.contains("<!-- x"));
        let start = html.find(r#"id="vieagent-data">"#).expect("data") + 19;
        let end = start + html[start..].find("</script>").expect("end");
        let data: Value = serde_json::from_str(&html[start..end]).expect("json");
        assert_eq!(
            data["description"],
            "</script><script>alert(1)</script> <!-- x"
        );
        assert!(data["messages"]["vi"]["mcpapp-run"].is_string());
        let order: Vec<_> = data["schema"]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(order, ["b", "a"], "the author's order");
        // Self-contained: nothing is fetched.
        for fetches in [
            "src=\"http",
            "href=\"http",
            "@import",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!DOCUMENT.contains(fetches), "{fetches}");
        }
    }
}
