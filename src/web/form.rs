//! Easy Mode forms, rendered on the server from a tool's `input_schema`
//! (no script needed): strings, numbers and integers with their bounds,
//! booleans, `enum`s as selects, nested objects as fieldsets, arrays as
//! repeated rows ("Add item" re-renders with one more), `default`s,
//! `description`s as help text, `$ref`s into `$defs`/`definitions`.
//! Anything else (`anyOf`, `oneOf`, untyped) is a JSON text area.
//!
//! Every field's name is its JSON pointer in the arguments (`/a/b/0`), the
//! same path the validator reports, so the server's field errors land next
//! to their fields. The browser validates nothing (`novalidate`): the
//! server's validator is the judge.

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Map, Number, Value};

/// How deep `$ref`s and nesting are followed (a recursive schema stops here).
const MAX_DEPTH: usize = 12;
/// Most rows an array field renders.
const MAX_ROWS: usize = 100;

/// A submitted (or re-rendered) form: raw values by pointer, array row
/// counts, and the validator's errors by pointer.
#[derive(Debug, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    rows: HashMap<String, usize>,
    pub errors: HashMap<String, Vec<String>>,
    /// Whether the values came from a submission (else defaults are shown).
    submitted: bool,
}

impl FormState {
    /// From the posted pairs (`_`-prefixed names are controls, not fields).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut state = FormState {
            submitted: true,
            ..Default::default()
        };
        for (name, value) in pairs {
            if let Some(array) = name.strip_suffix("#rows") {
                let n = value.parse::<usize>().unwrap_or(1).min(MAX_ROWS);
                state.rows.insert(array.to_string(), n);
            } else if name.starts_with('/') {
                state.values.insert(name.clone(), value.clone());
            }
        }
        state
    }

    /// One more row for the array at `pointer` ("Add item").
    pub fn add_row(&mut self, pointer: &str) {
        let n = self.rows.get(pointer).copied().unwrap_or(1);
        self.rows.insert(pointer.to_string(), (n + 1).min(MAX_ROWS));
    }

    /// Attach the validator's messages (`"/path: text (rule: r)"`) to fields;
    /// a missing required property goes to the property's own field.
    /// Returns the ones that belong to no field.
    pub fn attach_errors(&mut self, errors: &[String]) -> Vec<String> {
        let mut loose = Vec::new();
        for error in errors {
            let (path, text) = match error.split_once(": ") {
                Some((p, t)) if p.starts_with('/') || p == "(arguments)" => (p, t),
                _ => {
                    loose.push(error.clone());
                    continue;
                }
            };
            let parent = if path == "(arguments)" { "" } else { path };
            let field = match required_property(text) {
                Some(prop) => format!("{parent}/{}", escape_pointer(&prop)),
                None if parent.is_empty() => {
                    loose.push(error.clone());
                    continue;
                }
                None => parent.to_string(),
            };
            self.errors.entry(field).or_default().push(text.to_string());
        }
        loose
    }
}

fn required_property(text: &str) -> Option<String> {
    let rest = text.strip_prefix("missing required property ")?;
    serde_json::from_str::<String>(rest.split(" (rule:").next()?.trim()).ok()
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A form field's HTML id for a pointer: letters and digits kept, anything
/// else as `_xx` hex, so every pointer has its own.
pub fn field_id(pointer: &str) -> String {
    let mut id = String::from("f");
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() {
            id.push(b as char);
        } else {
            id.push_str(&format!("_{b:02x}"));
        }
    }
    id
}

/// The schema a `$ref` points to (local refs only), else the schema itself.
fn resolve<'a>(root: &'a Value, schema: &'a Value, depth: usize) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH.saturating_sub(depth).max(1) {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return current;
        };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Enum,
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Json,
}

fn kind(schema: &Value) -> Kind {
    if schema.get("enum").and_then(Value::as_array).is_some() {
        return Kind::Enum;
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // ["string", "null"]: the non-null one.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    };
    match ty {
        "string" => Kind::String,
        "integer" => Kind::Integer,
        "number" => Kind::Number,
        "boolean" => Kind::Boolean,
        "object" if schema.get("properties").is_some() => Kind::Object,
        "array" if schema.get("items").is_some_and(Value::is_object) => Kind::Array,
        _ => Kind::Json,
    }
}

fn required_set(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The form's fields for a tool's `input_schema` (an object schema).
pub fn render(schema: &Value, state: &FormState) -> Markup {
    let root = resolve(schema, schema, 0);
    let defaults = root.get("default").cloned().unwrap_or(Value::Null);
    if kind(root) != Kind::Object {
        return field(
            schema,
            root,
            "",
            "Arguments (JSON)",
            true,
            &defaults,
            state,
            0,
        );
    }
    properties(schema, root, "", &defaults, state, 0)
}

fn properties(
    root: &Value,
    schema: &Value,
    pointer: &str,
    defaults: &Value,
    state: &FormState,
    depth: usize,
) -> Markup {
    let required = required_set(schema);
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    html! {
        @for (name, sub) in props {
            @let child = format!("{pointer}/{}", escape_pointer(name));
            @let default = defaults.get(name).cloned().unwrap_or(Value::Null);
            (field(root, sub, &child, name, required.contains(&name.as_str()), &default, state, depth + 1))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn field(
    root: &Value,
    schema: &Value,
    pointer: &str,
    name: &str,
    required: bool,
    default: &Value,
    state: &FormState,
    depth: usize,
) -> Markup {
    let schema = resolve(root, schema, depth);
    let title = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_string();
    let description = schema.get("description").and_then(Value::as_str);
    let default = match (default, schema.get("default")) {
        (Value::Null, Some(d)) => d.clone(),
        (d, _) => d.clone(),
    };
    let id = field_id(pointer);
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let errors = state.errors.get(pointer);
    let described_by = match (description.is_some(), errors.is_some()) {
        (true, true) => format!("{help_id} {error_id}"),
        (true, false) => help_id.clone(),
        (false, true) => error_id.clone(),
        (false, false) => String::new(),
    };
    let raw = if state.submitted {
        state.values.get(pointer).cloned().unwrap_or_default()
    } else {
        text_of(&default)
    };
    let kind = if depth > MAX_DEPTH {
        Kind::Json
    } else {
        kind(schema)
    };
    let help = html! {
        @if let Some(d) = description { p.help id=(help_id) { (d) } }
        @if let Some(errors) = errors {
            p.field-error id=(error_id) role="alert" {
                @for e in errors { span { (e) } " " }
            }
        }
    };
    let label = html! {
        label for=(id) { (title) @if required { span.req aria-hidden="true" { " *" } } }
    };
    match kind {
        Kind::Object => html! {
            fieldset.group aria-describedby=[non_empty(&described_by)] {
                legend { (title) @if required { span.req aria-hidden="true" { " *" } } }
                (help)
                (properties(root, schema, pointer, &default, state, depth))
            }
        },
        Kind::Array => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let default_rows = default.as_array().map(Vec::len).unwrap_or(0);
            let min_rows = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let rows = state
                .rows
                .get(pointer)
                .copied()
                .unwrap_or_else(|| default_rows.max(min_rows).max(1))
                .clamp(1, MAX_ROWS);
            html! {
                fieldset.group.array aria-describedby=[non_empty(&described_by)] {
                    legend { (title) @if required { span.req aria-hidden="true" { " *" } } }
                    (help)
                    input type="hidden" name=(format!("{pointer}#rows")) value=(rows);
                    @for i in 0..rows {
                        @let item_default = default.get(i).cloned().unwrap_or(Value::Null);
                        (field(root, items, &format!("{pointer}/{i}"), &format!("{title} {}", i + 1), false, &item_default, state, depth + 1))
                    }
                    button.secondary type="submit" name="_add" value=(pointer) formnovalidate {
                        "Add another " (title)
                    }
                }
            }
        }
        Kind::Boolean => {
            let checked = if state.submitted {
                state.values.get(pointer).is_some_and(|v| v == "true")
            } else {
                default.as_bool().unwrap_or(false)
            };
            html! {
                div.field.check {
                    input type="checkbox" id=(id) name=(pointer) value="true" checked[checked]
                        aria-describedby=[non_empty(&described_by)] aria-invalid=[errors.map(|_| "true")];
                    (label)
                    (help)
                }
            }
        }
        Kind::Enum => {
            let options = schema
                .get("enum")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let selected = if state.submitted {
                raw.parse::<usize>().ok()
            } else {
                options.iter().position(|o| *o == default)
            };
            html! {
                div.field {
                    (label)
                    select id=(id) name=(pointer) aria-required=[required.then_some("true")]
                        aria-describedby=[non_empty(&described_by)] aria-invalid=[errors.map(|_| "true")] {
                        @if !required || selected.is_none() {
                            option value="" { "— choose —" }
                        }
                        @for (i, option) in options.iter().enumerate() {
                            option value=(i) selected[selected == Some(i)] { (text_of(option)) }
                        }
                    }
                    (help)
                }
            }
        }
        Kind::String | Kind::Integer | Kind::Number => {
            let (input_type, step) = match kind {
                Kind::Integer => ("number", Some("1")),
                Kind::Number => ("number", Some("any")),
                _ => (
                    match schema.get("format").and_then(Value::as_str) {
                        Some("email") => "email",
                        Some("uri") | Some("url") => "url",
                        Some("date") => "date",
                        _ => "text",
                    },
                    None,
                ),
            };
            let long = kind == Kind::String
                && (schema
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .is_none_or(|m| m > 200)
                    && input_type == "text"
                    && schema.get("format").is_none());
            let min = schema.get("minimum").map(text_of);
            let max = schema.get("maximum").map(text_of);
            let min_length = schema.get("minLength").map(text_of);
            let max_length = schema.get("maxLength").map(text_of);
            html! {
                div.field {
                    (label)
                    @if long {
                        textarea id=(id) name=(pointer) rows="3" aria-required=[required.then_some("true")]
                            minlength=[min_length] maxlength=[max_length]
                            aria-describedby=[non_empty(&described_by)] aria-invalid=[errors.map(|_| "true")] { (raw) }
                    } @else {
                        input type=(input_type) id=(id) name=(pointer) value=(raw) step=[step]
                            min=[min] max=[max] minlength=[min_length] maxlength=[max_length]
                            aria-required=[required.then_some("true")]
                            aria-describedby=[non_empty(&described_by)] aria-invalid=[errors.map(|_| "true")];
                    }
                    (help)
                }
            }
        }
        Kind::Json => {
            let raw = if state.submitted || default.is_null() {
                raw
            } else {
                default.to_string()
            };
            html! {
                div.field {
                    (label)
                    textarea.json id=(id) name=(pointer) rows="4" aria-required=[required.then_some("true")]
                        aria-describedby=[non_empty(&described_by)] aria-invalid=[errors.map(|_| "true")] { (raw) }
                    p.help { "A JSON value." }
                    (help)
                }
            }
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The tool's arguments from a submitted form, shaped by the schema. Values
/// that do not parse are passed on as text, so the validator names the
/// field and the rule.
pub fn arguments(schema: &Value, state: &FormState) -> Value {
    let root = resolve(schema, schema, 0);
    collect(schema, root, "", true, state, 0).unwrap_or_else(|| Value::Object(Map::new()))
}

fn collect(
    root: &Value,
    schema: &Value,
    pointer: &str,
    required: bool,
    state: &FormState,
    depth: usize,
) -> Option<Value> {
    let schema = resolve(root, schema, depth);
    let raw = state.values.get(pointer).map(String::as_str);
    let kind = if depth > MAX_DEPTH {
        Kind::Json
    } else {
        kind(schema)
    };
    match kind {
        Kind::Object => {
            let props = schema.get("properties").and_then(Value::as_object)?;
            let required_props = required_set(schema);
            let mut out = Map::new();
            for (name, sub) in props {
                let child = format!("{pointer}/{}", escape_pointer(name));
                if let Some(v) = collect(
                    root,
                    sub,
                    &child,
                    required_props.contains(&name.as_str()),
                    state,
                    depth + 1,
                ) {
                    out.insert(name.clone(), v);
                }
            }
            (required || !out.is_empty()).then_some(Value::Object(out))
        }
        Kind::Array => {
            let items = schema.get("items")?;
            let rows = state.rows.get(pointer).copied().unwrap_or(0);
            let out: Vec<Value> = (0..rows)
                .filter_map(|i| {
                    collect(
                        root,
                        items,
                        &format!("{pointer}/{i}"),
                        false,
                        state,
                        depth + 1,
                    )
                })
                .collect();
            (required || !out.is_empty()).then_some(Value::Array(out))
        }
        Kind::Boolean => Some(Value::Bool(raw == Some("true"))),
        Kind::Enum => {
            let raw = raw.filter(|r| !r.is_empty())?;
            let options = schema.get("enum").and_then(Value::as_array)?;
            Some(
                raw.parse::<usize>()
                    .ok()
                    .and_then(|i| options.get(i).cloned())
                    .unwrap_or_else(|| Value::String(raw.to_string())),
            )
        }
        Kind::String => raw
            .filter(|r| !r.is_empty())
            .map(|r| Value::String(r.to_string())),
        Kind::Integer | Kind::Number => {
            let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
            let number = raw
                .parse::<i64>()
                .ok()
                .map(Number::from)
                .or_else(|| raw.parse::<f64>().ok().and_then(Number::from_f64));
            Some(number.map_or_else(|| Value::String(raw.to_string()), Value::Number))
        }
        Kind::Json => {
            let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
            Some(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["question", "tone"],
            "properties": {
                "question": {"type": "string", "description": "What to ask"},
                "tone": {"enum": ["friendly", "formal"], "default": "formal"},
                "count": {"type": "integer", "minimum": 1, "maximum": 5},
                "verbose": {"type": "boolean"},
                "customer": {"$ref": "#/$defs/customer"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "extra": {"anyOf": [{"type": "string"}, {"type": "number"}]}
            },
            "$defs": {"customer": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "maxLength": 80},
                "plan": {"enum": ["free", "pro", 3]}
            }}}
        })
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_filled_form_becomes_typed_arguments() {
        let state = FormState::from_pairs(&pairs(&[
            ("/question", "Why?"),
            ("/tone", "0"),
            ("/count", "3"),
            ("/verbose", "true"),
            ("/customer/name", "Ada"),
            ("/customer/plan", "2"),
            ("/tags#rows", "3"),
            ("/tags/0", "a"),
            ("/tags/1", ""),
            ("/tags/2", "c"),
            ("/extra", "42"),
        ]));
        assert_eq!(
            arguments(&schema(), &state),
            json!({
                "question": "Why?", "tone": "friendly", "count": 3, "verbose": true,
                "customer": {"name": "Ada", "plan": 3}, "tags": ["a", "c"], "extra": 42
            })
        );
    }

    #[test]
    fn empty_optional_fields_are_left_out_and_bad_numbers_pass_as_text() {
        let state = FormState::from_pairs(&pairs(&[
            ("/question", ""),
            ("/count", "lots"),
            ("/customer/name", ""),
            ("/tags#rows", "1"),
            ("/tags/0", ""),
        ]));
        assert_eq!(
            arguments(&schema(), &state),
            json!({"count": "lots", "verbose": false})
        );
    }

    #[test]
    fn validator_errors_land_on_their_fields() {
        let mut state = FormState::default();
        let loose = state.attach_errors(&[
            "(arguments): missing required property \"question\" (rule: required)".into(),
            "/count: must be <= 5 (rule: maximum)".into(),
            "/customer: missing required property \"name\" (rule: required)".into(),
            "(arguments): unexpected properties: x (rule: additionalProperties)".into(),
        ]);
        assert_eq!(state.errors["/question"].len(), 1);
        assert_eq!(state.errors["/count"], vec!["must be <= 5 (rule: maximum)"]);
        assert!(state.errors.contains_key("/customer/name"));
        assert_eq!(loose.len(), 1);
    }

    #[test]
    fn the_form_has_a_labelled_control_per_field_and_escapes_text() {
        let mut s = schema();
        s["properties"]["question"]["description"] = json!("<script>alert(1)</script>");
        let html = render(&s, &FormState::default()).into_string();
        for pointer in [
            "/question",
            "/tone",
            "/count",
            "/verbose",
            "/customer/name",
            "/tags/0",
            "/extra",
        ] {
            let id = field_id(pointer);
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "label for {pointer}: {html}"
            );
            assert!(html.contains(&format!("id=\"{id}\"")), "control {pointer}");
        }
        assert!(
            html.contains("<option value=\"1\" selected>formal</option>"),
            "{html}"
        );
        assert!(html.contains("min=\"1\"") && html.contains("max=\"5\""));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn ids_are_distinct_for_distinct_pointers() {
        assert_ne!(field_id("/a/b"), field_id("/a_b"));
        assert_ne!(field_id("/a~1b"), field_id("/a/b"));
    }

    #[test]
    fn a_recursive_schema_stops() {
        let s = json!({"type": "object", "properties": {"node": {"$ref": "#"}}});
        let html = render(&s, &FormState::default()).into_string();
        assert!(html.contains("A JSON value."));
    }
}
