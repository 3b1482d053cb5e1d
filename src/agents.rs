//! Agent catalog operations shared by the CLI and the admin API: importing
//! an agent from a live engine flow, tool-name rules, publish checks.

use serde::Serialize;
use serde_json::Value;

use crate::engines::{Engines, FlowDescription, valid_flow_id};
use crate::error::{Error, FieldError, OnConstraint, Result};
use crate::store::{Agent, AgentPatch, AgentStatus, EngineType, NewAgent, Store, TaskMode};

/// `^[A-Za-z0-9_.-]{1,64}$`: valid, stable MCP tool names.
pub fn validate_tool_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(Error::InvalidInput(
            "tool_name: must match ^[A-Za-z0-9_.-]{1,64}$".into(),
        ));
    }
    if crate::toolbox::is_reserved_tool_name(name) {
        return Err(Error::InvalidInput(format!(
            "tool_name: '{name}' is reserved for the gateway's own discovery tool; choose another"
        )));
    }
    Ok(())
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
    valid_flow_id(&req.flow_id).map_err(|_| {
        Error::Validation(vec![FieldError::new(
            "flow_id",
            "pattern",
            "must match ^[A-Za-z0-9_-]{1,128}$",
        )])
    })?;
    let refused = |message: String| Error::Refused {
        problems: vec![message.clone()],
        message,
    };
    let engine = engines
        .get(req.engine_type)
        .map_err(|e| refused(e.to_string()))?;
    let description = engine.describe(&req.flow_id).await.map_err(|e| {
        refused(format!(
            "cannot read the flow from {}: {e}",
            req.engine_type
        ))
    })?;
    let input_schema = match (&req.input_schema, &description.input_schema) {
        (Some(given), _) => given.clone(),
        (None, Some(derived)) => derived.clone(),
        (None, None) => {
            return Err(Error::Validation(vec![FieldError::new(
                "input_schema",
                "required",
                format!(
                    "the flow does not declare its inputs ({}); pass an input schema",
                    description.warnings.join("; ")
                ),
            )]));
        }
    };
    let mut errors = Vec::new();
    check_input_schema(&input_schema, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
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
                    charge_failed_calls: false,
                    task_mode: TaskMode::default(),
                })
                .await
                .on_unique(|| Error::Conflict(format!("tool_name {tool_name} is already taken")))?;
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

/// A price as the API takes it: a decimal string (`"9.99"`) or a JSON number.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum PriceInput {
    Text(String),
    Number(serde_json::Number),
}

impl utoipa::PartialSchema for PriceInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(PRICE_PATTERN))
                    .examples(["9.99"]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(99_999_999.99)),
            )
            .description(Some("A price in the marketplace currency: a decimal string or a number, >= 0, at most 2 decimals"))
            .into()
    }
}

impl utoipa::ToSchema for PriceInput {}

/// Largest price: DECIMAL(10,2).
const MAX_PRICE: &str = "99999999.99";
/// A price written as text: up to 8 digits, up to 2 decimals.
const PRICE_PATTERN: &str = r"^[0-9]{1,8}(\.[0-9]{1,2})?$";

/// Parse and check a price: ≥ 0, at most 2 decimals, fits DECIMAL(10,2).
pub fn parse_price(
    field: &str,
    input: &PriceInput,
) -> std::result::Result<rust_decimal::Decimal, FieldError> {
    use std::str::FromStr;
    let text = match input {
        PriceInput::Text(t) => {
            let well_formed = {
                let (int, frac) = t.split_once('.').unwrap_or((t.as_str(), ""));
                (1..=8).contains(&int.len())
                    && int.bytes().all(|b| b.is_ascii_digit())
                    && (!t.contains('.') || (1..=2).contains(&frac.len()))
                    && frac.bytes().all(|b| b.is_ascii_digit())
            };
            if !well_formed {
                return Err(FieldError::new(
                    field,
                    "pattern",
                    format!("must be a decimal string matching {PRICE_PATTERN} (e.g. \"9.99\")"),
                ));
            }
            t.clone()
        }
        PriceInput::Number(n) => n.to_string(),
    };
    let value = rust_decimal::Decimal::from_str(&text)
        .or_else(|_| rust_decimal::Decimal::from_scientific(&text))
        .map_err(|_| {
            FieldError::new(
                field,
                "decimal",
                "must be a decimal number such as \"9.99\"",
            )
        })?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(FieldError::new(field, "minimum", "must be >= 0"));
    }
    if value.normalize().scale() > 2 {
        return Err(FieldError::new(
            field,
            "max_decimals",
            "must have at most 2 decimal places",
        ));
    }
    let max = rust_decimal::Decimal::from_str(MAX_PRICE).unwrap_or(rust_decimal::Decimal::MAX);
    if value > max {
        return Err(FieldError::new(
            field,
            "maximum",
            format!("must be <= {MAX_PRICE}"),
        ));
    }
    let mut value = value.abs();
    value.rescale(2);
    Ok(value)
}

/// OpenAPI for `input_schema`: an object schema (`"type": "object"`).
pub fn input_schema_doc() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["object"])),
        )
        .required("type")
        .description(Some(
            "JSON Schema of the tool's arguments: an object schema that compiles",
        ))
        .build()
}

/// `input_schema_doc`, also allowing `null` (PATCH: leave unchanged).
pub fn input_schema_nullable_doc() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut doc = input_schema_doc();
    doc.schema_type = SchemaType::from_iter([Type::Object, Type::Null]);
    doc
}

/// `credential_types_doc`, also allowing `null` (PATCH: leave unchanged).
pub fn credential_types_nullable_doc() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut doc = credential_types_doc();
    doc.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    doc
}

/// OpenAPI for credential type lists.
pub fn credential_types_doc() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[a-z0-9_.-]{1,64}$")),
        )
        .unique_items(true)
        .build()
}

/// Integers also arrive as `1.0` from some JSON encoders; accept integral values.
fn integral(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

pub fn int_like<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i32, D::Error> {
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    integral(&n)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}")))
}

pub fn opt_int_like<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i32>, D::Error> {
    match <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integral(&n)
            .and_then(|v| i32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}"))),
    }
}

/// An i64 written as an integer or an integral float (`198.0`).
pub fn int64_like<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    integral(&n).ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}")))
}

pub fn opt_int64_like<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i64>, D::Error> {
    match <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integral(&n)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}"))),
    }
}

pub fn opt_opt_int_like<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<i32>>, D::Error> {
    opt_int_like(d).map(Some)
}

/// A complete agent definition, as `POST /admin/v1/agents` and manifests take it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentDefinition {
    /// Display name (1-200 characters, no control characters).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f]+$"
    )]
    pub name: String,
    /// Stable MCP tool name.
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    pub tool_name: String,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
    pub engine_type: EngineType,
    /// The flow's id in its engine (letters, digits, `-`, `_`).
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,128}$")]
    pub engine_flow_id: String,
    /// JSON Schema (an object schema) of the tool's arguments.
    #[schema(schema_with = input_schema_doc)]
    pub input_schema: Value,
    #[serde(default)]
    #[schema(schema_with = credential_types_doc)]
    pub required_credential_types: Vec<String>,
    #[serde(default)]
    pub price_one_time: Option<PriceInput>,
    #[serde(default)]
    pub price_monthly: Option<PriceInput>,
    #[serde(default = "default_credits_per_call", deserialize_with = "int_like")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub credits_per_call: i32,
    /// Engine request mapping (e.g. `{"input_mode": "form"}`); `import` fills it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub engine_config: Option<Value>,
    /// Call timeout in milliseconds, overriding the engine default.
    #[serde(default, deserialize_with = "opt_int_like")]
    #[schema(minimum = 1, maximum = 3600000)]
    pub timeout_ms: Option<i32>,
    /// Charge `credits_per_call` for calls the engine failed (default: only
    /// successful calls are charged).
    #[serde(default)]
    pub charge_failed_calls: bool,
    /// How calls run for MCP clients with the Tasks extension: `auto`
    /// (default: inline if done within `mcp.task_inline_budget`, else a
    /// task), `never` (inline), `always` (a task; other clients cannot call it).
    #[serde(default)]
    pub task_mode: TaskMode,
}

fn default_credits_per_call() -> i32 {
    1
}

/// Deserialize "absent" as `None`, "null" as `Some(None)`.
pub fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A partial update (`PATCH /admin/v1/agents/{id}`); `null` clears a price or timeout.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f]+$"
    )]
    pub name: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    pub tool_name: Option<String>,
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    pub engine_type: Option<EngineType>,
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,128}$")]
    pub engine_flow_id: Option<String>,
    #[schema(schema_with = input_schema_nullable_doc)]
    pub input_schema: Option<Value>,
    #[schema(schema_with = credential_types_nullable_doc)]
    pub required_credential_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub price_one_time: Option<Option<PriceInput>>,
    #[serde(default, deserialize_with = "double_option")]
    pub price_monthly: Option<Option<PriceInput>>,
    #[serde(default, deserialize_with = "opt_int_like")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub credits_per_call: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub engine_config: Option<Value>,
    #[serde(default, deserialize_with = "opt_opt_int_like")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3600000)]
    pub timeout_ms: Option<Option<i32>>,
    pub charge_failed_calls: Option<bool>,
    pub task_mode: Option<TaskMode>,
}

/// Largest accepted input schema (serialized).
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

fn check_name(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.is_empty() {
        errors.push(FieldError::new(field, "min_length", "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "max_length",
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            field,
            "printable",
            "must not contain control characters",
        ));
    }
}

fn check_tool_name(value: &str, errors: &mut Vec<FieldError>) {
    if crate::toolbox::is_reserved_tool_name(value) {
        errors.push(FieldError::new(
            "tool_name",
            "reserved",
            format!("'{value}' is reserved for the gateway's own discovery tool; choose another"),
        ));
    } else if validate_tool_name(value).is_err() {
        errors.push(FieldError::new(
            "tool_name",
            "pattern",
            "must match ^[A-Za-z0-9_.-]{1,64}$",
        ));
    }
}

fn check_flow_id(value: &str, errors: &mut Vec<FieldError>) {
    if valid_flow_id(value).is_err() {
        errors.push(FieldError::new(
            "engine_flow_id",
            "pattern",
            "must match ^[A-Za-z0-9_-]{1,128}$",
        ));
    }
}

/// An input schema must be an object schema (`"type": "object"`) that compiles.
pub fn check_input_schema(schema: &Value, errors: &mut Vec<FieldError>) {
    if !schema.is_object() {
        errors.push(FieldError::new(
            "input_schema",
            "type",
            "must be a JSON object (a JSON Schema)",
        ));
        return;
    }
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        errors.push(FieldError::new(
            "input_schema.type",
            "const",
            "must be \"object\": tool arguments are a JSON object",
        ));
    }
    if schema.to_string().len() > MAX_SCHEMA_BYTES {
        errors.push(FieldError::new(
            "input_schema",
            "max_size",
            format!("must be at most {MAX_SCHEMA_BYTES} bytes"),
        ));
        return;
    }
    if let Err(e) = crate::catalog::compile(schema) {
        let message: String = e.chars().take(300).collect();
        errors.push(FieldError::new(
            "input_schema",
            "compile",
            format!("is not a valid JSON Schema: {message}"),
        ));
    }
}

fn check_credential_types(types: &[String], errors: &mut Vec<FieldError>) {
    for (i, t) in types.iter().enumerate() {
        if crate::vault::validate_provider(t).is_err() {
            errors.push(FieldError::new(
                format!("required_credential_types[{i}]"),
                "pattern",
                "must match ^[a-z0-9_.-]{1,64}$",
            ));
        }
        if types[..i].contains(t) {
            errors.push(FieldError::new(
                format!("required_credential_types[{i}]"),
                "unique",
                "is listed twice",
            ));
        }
    }
}

fn check_credits(value: i32, errors: &mut Vec<FieldError>) {
    if !(0..=1_000_000).contains(&value) {
        errors.push(FieldError::new(
            "credits_per_call",
            "range",
            "must be between 0 and 1000000",
        ));
    }
}

fn check_timeout(value: i32, errors: &mut Vec<FieldError>) {
    if !(1..=3_600_000).contains(&value) {
        errors.push(FieldError::new(
            "timeout_ms",
            "range",
            "must be between 1 and 3600000",
        ));
    }
}

fn check_engine_config(value: &Value, errors: &mut Vec<FieldError>) {
    if !value.is_object() {
        errors.push(FieldError::new(
            "engine_config",
            "type",
            "must be a JSON object",
        ));
    }
}

impl AgentDefinition {
    /// Check every rule and report every failing field at once.
    pub fn validate(&self) -> std::result::Result<NewAgent, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_name("name", &self.name, 200, &mut errors);
        check_tool_name(&self.tool_name, &mut errors);
        if self.description.chars().count() > 4000 {
            errors.push(FieldError::new(
                "description",
                "max_length",
                "must be at most 4000 characters",
            ));
        }
        check_flow_id(&self.engine_flow_id, &mut errors);
        check_input_schema(&self.input_schema, &mut errors);
        check_credential_types(&self.required_credential_types, &mut errors);
        let price_one_time = self
            .price_one_time
            .as_ref()
            .map(|p| parse_price("price_one_time", p))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let price_monthly = self
            .price_monthly
            .as_ref()
            .map(|p| parse_price("price_monthly", p))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        check_credits(self.credits_per_call, &mut errors);
        if let Some(t) = self.timeout_ms {
            check_timeout(t, &mut errors);
        }
        if let Some(c) = &self.engine_config {
            check_engine_config(c, &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewAgent {
            name: self.name.clone(),
            tool_name: self.tool_name.clone(),
            description: self.description.clone(),
            engine_type: self.engine_type,
            engine_flow_id: self.engine_flow_id.clone(),
            input_schema: self.input_schema.clone(),
            required_credential_types: self.required_credential_types.clone(),
            price_one_time,
            price_monthly,
            credits_per_call: self.credits_per_call,
            status: AgentStatus::Draft,
            engine_config: self
                .engine_config
                .clone()
                .unwrap_or_else(|| Value::Object(Default::default())),
            timeout_ms: self.timeout_ms,
            charge_failed_calls: self.charge_failed_calls,
            task_mode: self.task_mode,
        })
    }
}

impl AgentUpdate {
    /// Check every rule of the fields present; report every failure at once.
    pub fn validate(&self) -> std::result::Result<AgentPatch, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(v) = &self.name {
            check_name("name", v, 200, &mut errors);
        }
        if let Some(v) = &self.tool_name {
            check_tool_name(v, &mut errors);
        }
        if let Some(v) = &self.description
            && v.chars().count() > 4000
        {
            errors.push(FieldError::new(
                "description",
                "max_length",
                "must be at most 4000 characters",
            ));
        }
        if let Some(v) = &self.engine_flow_id {
            check_flow_id(v, &mut errors);
        }
        if let Some(v) = &self.input_schema {
            check_input_schema(v, &mut errors);
        }
        if let Some(v) = &self.required_credential_types {
            check_credential_types(v, &mut errors);
        }
        let mut price = |field: &str, input: &Option<Option<PriceInput>>| match input {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => match parse_price(field, p) {
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let price_one_time = price("price_one_time", &self.price_one_time);
        let price_monthly = price("price_monthly", &self.price_monthly);
        if let Some(v) = self.credits_per_call {
            check_credits(v, &mut errors);
        }
        if let Some(Some(v)) = self.timeout_ms {
            check_timeout(v, &mut errors);
        }
        if let Some(c) = &self.engine_config {
            check_engine_config(c, &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(AgentPatch {
            name: self.name.clone(),
            tool_name: self.tool_name.clone(),
            description: self.description.clone(),
            engine_type: self.engine_type,
            engine_flow_id: self.engine_flow_id.clone(),
            input_schema: self.input_schema.clone(),
            required_credential_types: self.required_credential_types.clone(),
            price_one_time,
            price_monthly,
            credits_per_call: self.credits_per_call,
            status: None,
            engine_config: self.engine_config.clone(),
            timeout_ms: self.timeout_ms,
            charge_failed_calls: self.charge_failed_calls,
            task_mode: self.task_mode,
        })
    }
}

/// What publishing an agent would run into: the engine's checks (flow
/// reachable, credential overrides really applied). Empty means publishable.
pub async fn publish_problems(engines: &Engines, agent: &Agent) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = crate::catalog::compile(&agent.input_schema) {
        problems.push(format!("input_schema does not compile: {e}"));
    }
    let engine = match engines.for_agent(agent.engine_type, &agent.engine_config) {
        Ok(engine) => engine,
        Err(e) => {
            problems.push(e.to_string());
            return problems;
        }
    };
    match engine
        .validate(
            &agent.engine_flow_id,
            &agent.required_credential_types,
            &agent.engine_config,
        )
        .await
    {
        Ok(found) => problems.extend(found),
        Err(e) => problems.push(format!(
            "cannot verify the flow in {}: {e}",
            agent.engine_type
        )),
    }
    problems
}
