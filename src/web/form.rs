//! Easy Mode forms, rendered on the server from a tool's `input_schema`
//! (no script needed), fields in the author's order: strings (one line, or
//! a text area for long text), numbers and integers with their bounds,
//! formats (email, date, date and time, time, web address, id) with their
//! input types, booleans (an optional one can stay unset), `enum`s as
//! selects, nested objects as fieldsets, arrays as rows that can be added
//! and removed, `default`s, `description`s, bounds and defaults as help
//! text, `$ref`s into `$defs`/`definitions`. Anything else (`anyOf`,
//! `oneOf`, untyped) is a JSON text area.
//!
//! Every field's name is its JSON pointer in the arguments (`/a/b/0`), the
//! same path the validator reports, so the server's field errors land next
//! to their fields, worded for people in their language. The browser
//! validates nothing (`novalidate`): the server's validator is the judge.

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Map, Number, Value};

use super::i18n::{Arg, Tr};
use crate::calls::{ArgumentError, Problem, escape_pointer, resolve_ref, unescape_pointer};

/// How deep nesting is followed (a recursive schema stops here; chains of
/// `$ref`s are bounded by `resolve_ref`).
const MAX_DEPTH: usize = 12;
/// Most rows an array field renders.
const MAX_ROWS: usize = 100;
/// Strings that may be longer than this get a text area.
const LONG_TEXT: u64 = 200;
/// Unbounded strings with these names are prose: a text area.
const PROSE_NAMES: &[&str] = &[
    "question",
    "prompt",
    "text",
    "content",
    "message",
    "body",
    "description",
    "instructions",
    "notes",
    "input",
];

/// One problem of a submitted form, for the summary at its top.
#[derive(Debug, Clone)]
pub struct SummaryItem {
    /// The field's HTML id, if the problem belongs to a field.
    pub target: Option<String>,
    pub text: String,
}

/// A submitted (or re-rendered) form: raw values by pointer, array row
/// counts, and the validator's errors by pointer, worded for people.
#[derive(Debug, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    rows: HashMap<String, usize>,
    errors: HashMap<String, Vec<String>>,
    /// Every problem in field order (the error summary).
    pub summary: Vec<SummaryItem>,
    /// Whether the values came from a submission (else defaults are shown).
    submitted: bool,
    /// The browser's UTC offset (`+07:00`), for date-times and times.
    offset: Option<String>,
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
            } else if name == "_tz" && valid_offset(value) {
                state.offset = Some(value.clone());
            }
        }
        state
    }

    /// The arguments of an earlier call, to run again with changes.
    pub fn from_arguments(arguments: &Value) -> Self {
        let mut state = FormState {
            submitted: true,
            ..Default::default()
        };
        state.flatten("", arguments, 0);
        state
    }

    fn flatten(&mut self, pointer: &str, value: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) if depth == 0 || !map.is_empty() => {
                for (k, v) in map {
                    self.flatten(&format!("{pointer}/{}", escape_pointer(k)), v, depth + 1);
                }
                if depth > 0 {
                    self.values.insert(pointer.to_string(), value.to_string());
                }
            }
            Value::Array(items) => {
                self.rows
                    .insert(pointer.to_string(), items.len().clamp(1, MAX_ROWS));
                for (i, v) in items.iter().enumerate().take(MAX_ROWS) {
                    self.flatten(&format!("{pointer}/{i}"), v, depth + 1);
                }
                self.values.insert(pointer.to_string(), value.to_string());
            }
            Value::Null => {}
            other => {
                self.values.insert(pointer.to_string(), text_of(other));
            }
        }
    }

    /// The fields as a form posts them (the values, row counts and
    /// offset), to keep in a draft and read back with [`Self::from_pairs`].
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(
                self.rows
                    .iter()
                    .map(|(k, n)| (format!("{k}#rows"), n.to_string())),
            )
            .chain(self.offset.iter().map(|o| ("_tz".to_string(), o.clone())))
            .collect();
        pairs.sort();
        pairs
    }

    /// How many rows the array at `pointer` has.
    pub fn rows(&self, pointer: &str) -> usize {
        self.rows.get(pointer).copied().unwrap_or(1)
    }

    /// One more row for the array at `pointer` ("Add …").
    pub fn add_row(&mut self, pointer: &str) {
        let n = self.rows.get(pointer).copied().unwrap_or(1);
        self.rows.insert(pointer.to_string(), (n + 1).min(MAX_ROWS));
    }

    /// Remove the row at `row` (`/legs/1`): later rows move up.
    pub fn remove_row(&mut self, row: &str) {
        let Some((array, index)) = row.rsplit_once('/') else {
            return;
        };
        let Ok(index) = index.parse::<usize>() else {
            return;
        };
        let n = self.rows.get(array).copied().unwrap_or(1);
        if index >= n {
            return;
        }
        let prefix = format!("{array}/");
        let moved = |map: &mut HashMap<String, String>| {
            let old = std::mem::take(map);
            for (key, value) in old {
                match renumber(&key, &prefix, index) {
                    Some(Some(new_key)) => {
                        map.insert(new_key, value);
                    }
                    Some(None) => {}
                    None => {
                        map.insert(key, value);
                    }
                }
            }
        };
        moved(&mut self.values);
        let old_rows = std::mem::take(&mut self.rows);
        for (key, count) in old_rows {
            match renumber(&key, &prefix, index) {
                Some(Some(new_key)) => {
                    self.rows.insert(new_key, count);
                }
                Some(None) => {}
                None => {
                    self.rows.insert(key, count);
                }
            }
        }
        self.rows.insert(array.to_string(), n.saturating_sub(1));
    }

    /// Attach the validator's problems to their fields, worded for people,
    /// and list them all (in field order) for the summary. Problems that
    /// belong to no field are listed only.
    pub fn attach_errors(&mut self, schema: &Value, errors: &[ArgumentError], tr: &Tr) {
        for error in errors {
            let field = lookup(schema, &error.pointer);
            let label = field
                .as_ref()
                .map(|(label, _)| label.clone())
                .unwrap_or_default();
            let text = match &field {
                Some((label, field_schema)) => {
                    field_message(tr, field_schema, label, &error.problem)
                }
                None => loose_message(tr, &error.problem),
            };
            let on_field = field.is_some() && !error.pointer.is_empty();
            if on_field {
                let list = self.errors.entry(error.pointer.clone()).or_default();
                if list.contains(&text) {
                    continue;
                }
                list.push(text.clone());
            }
            self.summary.push(SummaryItem {
                target: on_field.then(|| field_id(&error.pointer)),
                text: if on_field && !label.is_empty() {
                    format!("{label}: {text}")
                } else {
                    text
                },
            });
        }
    }
}

/// `key` under `prefix` + row: `Some(None)` if in the removed row,
/// `Some(Some(k))` renumbered if in a later row, `None` if elsewhere.
fn renumber(key: &str, prefix: &str, removed: usize) -> Option<Option<String>> {
    let rest = key.strip_prefix(prefix)?;
    let (digits, tail) = match rest.find(['/', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let i = digits.parse::<usize>().ok()?;
    Some(match i.cmp(&removed) {
        std::cmp::Ordering::Less => Some(key.to_string()),
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!("{prefix}{}{tail}", i - 1)),
    })
}

fn valid_offset(value: &str) -> bool {
    let b = value.as_bytes();
    value == "Z"
        || (b.len() == 6
            && matches!(b[0], b'+' | b'-')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3] == b':'
            && b[4].is_ascii_digit()
            && b[5].is_ascii_digit())
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

/// The label and schema of the field at `pointer`, if the form has it.
fn lookup<'a>(root: &'a Value, pointer: &str) -> Option<(String, &'a Value)> {
    let mut schema = resolve_ref(root, root);
    let mut label = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = unescape_pointer(segment);
        match kind(schema) {
            Kind::Object => {
                let sub = schema.get("properties")?.get(&segment)?;
                schema = resolve_ref(root, sub);
                label = title_of(schema, &segment);
            }
            Kind::Array => {
                let index = segment.parse::<usize>().ok()?;
                let items = resolve_ref(root, schema.get("items")?);
                label = format!("{} {}", item_title(schema, items, &label), index + 1);
                schema = items;
            }
            _ => return None,
        }
    }
    Some((label, schema))
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

fn title_of(schema: &Value, name: &str) -> String {
    schema
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map_or_else(|| name.to_string(), str::to_string)
}

/// What one row of an array is called: the items' title, else the array's.
fn item_title(array: &Value, items: &Value, array_label: &str) -> String {
    items
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map_or_else(|| title_of(array, array_label), str::to_string)
}

fn format_of(schema: &Value) -> Option<&str> {
    schema.get("format").and_then(Value::as_str)
}

/// A limit as people read it (`10`, `2.5`).
fn limit(schema: &Value, key: &str) -> Option<String> {
    schema.get(key).filter(|v| v.is_number()).map(text_of)
}

/// The sentence for a field's problem, from what the field asks for.
fn field_message(tr: &Tr, schema: &Value, label: &str, problem: &Problem) -> String {
    let field = ("field", Arg::from(label));
    let k = kind(schema);
    match problem {
        Problem::Required => match k {
            Kind::Enum => tr.a("error-choose", &[field]),
            Kind::Boolean => tr.a("error-choose-yes-no", &[field]),
            Kind::Array => tr.a("error-add-row", &[field]),
            _ => tr.a("error-required", &[field]),
        },
        Problem::Type(_)
        | Problem::Minimum(_)
        | Problem::Maximum(_)
        | Problem::ExclusiveMinimum(_)
        | Problem::ExclusiveMaximum(_)
        | Problem::MultipleOf
            if matches!(k, Kind::Integer | Kind::Number) =>
        {
            number_rule(tr, schema, k == Kind::Integer)
        }
        Problem::Type(_) => match k {
            Kind::Boolean => tr.a("error-choose-yes-no", &[field]),
            Kind::Json => tr.t("error-json"),
            Kind::Enum => tr.t("error-choose-option"),
            _ => tr.t("error-text"),
        },
        Problem::MinLength(n) => tr.a("error-min-length", &[("n", (*n).into())]),
        Problem::MaxLength(n) => tr.a("error-max-length", &[("n", (*n).into())]),
        Problem::Enum(_) => tr.t("error-choose-option"),
        Problem::MinItems(n) => tr.a("error-min-items", &[("n", (*n).into())]),
        Problem::MaxItems(n) => tr.a("error-max-items", &[("n", (*n).into())]),
        Problem::UniqueItems => tr.t("error-unique-items"),
        Problem::Pattern(_) => tr.t("error-pattern"),
        Problem::Format(format) => format_message(tr, format),
        Problem::Unexpected(names) => tr.a(
            "error-unexpected",
            &[("names", Arg::from(&names.join(", ")))],
        ),
        Problem::Minimum(_)
        | Problem::Maximum(_)
        | Problem::ExclusiveMinimum(_)
        | Problem::ExclusiveMaximum(_)
        | Problem::MultipleOf
        | Problem::Const(_)
        | Problem::Other(_) => tr.t("error-not-accepted"),
    }
}

/// A problem of the arguments as a whole (no field of the form).
fn loose_message(tr: &Tr, problem: &Problem) -> String {
    match problem {
        Problem::Unexpected(names) => tr.a(
            "error-unexpected",
            &[("names", Arg::from(&names.join(", ")))],
        ),
        _ => tr.t("error-not-accepted"),
    }
}

fn format_message(tr: &Tr, format: &str) -> String {
    match format {
        "email" | "idn-email" => tr.t("error-format-email"),
        "date" => tr.t("error-format-date"),
        "date-time" => tr.t("error-format-date-time"),
        "time" => tr.t("error-format-time"),
        "uri" | "iri" | "url" => tr.t("error-format-uri"),
        "uuid" => tr.t("error-format-uuid"),
        _ => tr.t("error-not-accepted"),
    }
}

/// "Enter a whole number from 1 to 10", from the field's own bounds.
fn number_rule(tr: &Tr, schema: &Value, whole: bool) -> String {
    let pick = |whole_id: &'static str, any_id: &'static str| if whole { whole_id } else { any_id };
    let min = limit(schema, "minimum");
    let max = limit(schema, "maximum");
    let gt = limit(schema, "exclusiveMinimum");
    let lt = limit(schema, "exclusiveMaximum");
    match (min, max, gt, lt) {
        (Some(min), Some(max), _, _) => tr.a(
            pick("error-integer-range", "error-number-range"),
            &[("min", Arg::from(&min)), ("max", Arg::from(&max))],
        ),
        (Some(min), None, _, _) => tr.a(
            pick("error-integer-min", "error-number-min"),
            &[("min", Arg::from(&min))],
        ),
        (None, Some(max), _, _) => tr.a(
            pick("error-integer-max", "error-number-max"),
            &[("max", Arg::from(&max))],
        ),
        (None, None, Some(gt), _) => tr.a(
            pick("error-integer-gt", "error-number-gt"),
            &[("min", Arg::from(&gt))],
        ),
        (None, None, None, Some(lt)) => tr.a(
            pick("error-integer-lt", "error-number-lt"),
            &[("max", Arg::from(&lt))],
        ),
        (None, None, None, None) => tr.t(pick("error-integer", "error-number")),
    }
}

/// Bounds, formats and defaults, as help under the field.
fn rules_help(tr: &Tr, schema: &Value, k: Kind, default: &Value) -> Vec<String> {
    let mut help = Vec::new();
    match k {
        Kind::String => {
            let min = schema
                .get("minLength")
                .and_then(Value::as_u64)
                .filter(|n| *n > 1);
            let max = schema.get("maxLength").and_then(Value::as_u64);
            match (min, max) {
                (Some(min), Some(max)) => help.push(tr.a(
                    "help-length-range",
                    &[("min", min.into()), ("max", max.into())],
                )),
                (Some(min), None) => help.push(tr.a("help-length-min", &[("min", min.into())])),
                (None, Some(max)) => help.push(tr.a("help-length-max", &[("max", max.into())])),
                (None, None) => {}
            }
            match format_of(schema) {
                Some("email" | "idn-email") => help.push(tr.t("help-format-email")),
                Some("uri" | "iri" | "url") => help.push(tr.t("help-format-uri")),
                Some("uuid") => help.push(tr.t("help-format-uuid")),
                _ => {}
            }
        }
        Kind::Integer | Kind::Number => {
            let min = limit(schema, "minimum").or_else(|| limit(schema, "exclusiveMinimum"));
            let max = limit(schema, "maximum").or_else(|| limit(schema, "exclusiveMaximum"));
            let whole = k == Kind::Integer;
            match (min, max) {
                (Some(min), Some(max)) => help.push(tr.a(
                    if whole {
                        "help-integer-range"
                    } else {
                        "help-number-range"
                    },
                    &[("min", Arg::from(&min)), ("max", Arg::from(&max))],
                )),
                (Some(min), None) => help.push(tr.a("help-min", &[("min", Arg::from(&min))])),
                (None, Some(max)) => help.push(tr.a("help-max", &[("max", Arg::from(&max))])),
                (None, None) if whole => help.push(tr.t("help-integer")),
                (None, None) => {}
            }
        }
        Kind::Array => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                help.push(tr.a("help-max-items", &[("n", max.into())]));
            }
        }
        _ => {}
    }
    let shown_default = match (k, default) {
        (Kind::Object | Kind::Array | Kind::Json, _) | (_, Value::Null) => None,
        (Kind::Boolean, Value::Bool(true)) => Some(tr.t("yes")),
        (Kind::Boolean, Value::Bool(false)) => Some(tr.t("no")),
        (_, d) => Some(text_of(d)),
    };
    if let Some(d) = shown_default.filter(|d| !d.is_empty()) {
        help.push(tr.a("help-default", &[("value", Arg::from(&d))]));
    }
    help
}

/// The form's fields for a tool's `input_schema` (an object schema).
pub fn render(schema: &Value, state: &FormState, tr: &Tr) -> Markup {
    let root = resolve_ref(schema, schema);
    let defaults = root.get("default").cloned().unwrap_or(Value::Null);
    let ctx = Ctx {
        root: schema,
        state,
        tr,
    };
    if kind(root) != Kind::Object {
        let label = tr.t("form-arguments-json");
        return ctx.field(root, "", &label, true, &defaults, 0);
    }
    ctx.properties(root, "", &defaults, 0)
}

struct Ctx<'a> {
    root: &'a Value,
    state: &'a FormState,
    tr: &'a Tr,
}

impl Ctx<'_> {
    fn properties(&self, schema: &Value, pointer: &str, defaults: &Value, depth: usize) -> Markup {
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
                @let label = title_of(resolve_ref(self.root, sub), name);
                (self.field(sub, &child, &label, required.contains(&name.as_str()), &default, depth + 1))
            }
        }
    }

    fn field(
        &self,
        schema: &Value,
        pointer: &str,
        label_text: &str,
        required: bool,
        default: &Value,
        depth: usize,
    ) -> Markup {
        let (state, tr) = (self.state, self.tr);
        let schema = resolve_ref(self.root, schema);
        let description = schema.get("description").and_then(Value::as_str);
        let default = match (default, schema.get("default")) {
            (Value::Null, Some(d)) => d.clone(),
            (d, _) => d.clone(),
        };
        let kind = if depth > MAX_DEPTH {
            Kind::Json
        } else {
            kind(schema)
        };
        let id = field_id(pointer);
        let help_id = format!("{id}-help");
        let error_id = format!("{id}-error");
        let errors = state.errors.get(pointer);
        let rules = rules_help(tr, schema, kind, &default);
        let has_help = description.is_some() || !rules.is_empty() || kind == Kind::Json;
        let described_by = [
            has_help.then(|| help_id.clone()),
            errors.map(|_| error_id.clone()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let described_by = (!described_by.is_empty()).then_some(described_by);
        let invalid = errors.map(|_| "true");
        let raw = if state.submitted {
            state.values.get(pointer).cloned().unwrap_or_default()
        } else {
            text_of(&default)
        };
        let required_mark = html! {
            @if required { span.req aria-hidden="true" { " *" } span.visually-hidden { " " (tr.t("form-required")) } }
        };
        let error = html! {
            @if let Some(errors) = errors {
                p.field-error id=(error_id) {
                    @for e in errors { span { (e) } " " }
                }
            }
        };
        let help = html! {
            @if has_help {
                p.help id=(help_id) {
                    @if let Some(d) = description { span.desc { (d) } " " }
                    @if kind == Kind::Json { span.rule { (tr.t("form-json-help")) } " " }
                    @for r in &rules { span.rule { (r) } " " }
                }
            }
        };
        let label = html! { label for=(id) { (label_text) (required_mark) } };
        match kind {
            Kind::Object => html! {
                fieldset.group aria-describedby=[described_by] {
                    legend { (label_text) (required_mark) }
                    (help)
                    (error)
                    (self.properties(schema, pointer, &default, depth))
                }
            },
            Kind::Array => self.array(
                schema,
                pointer,
                label_text,
                &default,
                depth,
                html! { (help) (error) },
                described_by,
                required_mark,
            ),
            Kind::Boolean if !required && !default.is_boolean() => {
                // Optional with no default: yes, no, or leave it unset.
                let chosen = if state.submitted { raw.as_str() } else { "" };
                html! {
                    div.field {
                        (label)
                        select id=(id) name=(pointer) aria-describedby=[described_by] aria-invalid=[invalid] {
                            option value="" selected[chosen.is_empty()] { (tr.t("form-unset")) }
                            option value="true" selected[chosen == "true"] { (tr.t("yes")) }
                            option value="false" selected[chosen == "false"] { (tr.t("no")) }
                        }
                        (help)
                        (error)
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
                            aria-describedby=[described_by] aria-invalid=[invalid];
                        (label)
                        (help)
                        (error)
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
                    raw.strip_prefix('#')
                        .and_then(|i| i.parse::<usize>().ok())
                        .filter(|i| *i < options.len())
                        .or_else(|| options.iter().position(|o| text_of(o) == raw))
                } else {
                    options.iter().position(|o| *o == default)
                };
                html! {
                    div.field {
                        (label)
                        select id=(id) name=(pointer) aria-required=[required.then_some("true")]
                            aria-describedby=[described_by] aria-invalid=[invalid] {
                            @if !required || selected.is_none() {
                                option value="" { (tr.t("form-choose")) }
                            }
                            @for (i, option) in options.iter().enumerate() {
                                option value=(format!("#{i}")) selected[selected == Some(i)] { (text_of(option)) }
                            }
                        }
                        (help)
                        (error)
                    }
                }
            }
            Kind::String | Kind::Integer | Kind::Number => {
                let format = format_of(schema);
                let name = pointer
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let (input_type, step, inputmode) = match kind {
                    Kind::Integer => ("number", Some("1"), Some("numeric")),
                    Kind::Number => ("number", Some("any"), Some("decimal")),
                    _ => match format {
                        Some("email" | "idn-email") => ("email", None, None),
                        Some("uri" | "iri" | "url") => ("url", None, None),
                        Some("date") => ("date", None, None),
                        Some("date-time") => ("datetime-local", None, None),
                        Some("time") => ("time", None, None),
                        _ if name.contains("phone")
                            || label_text.to_lowercase().contains("phone") =>
                        {
                            ("tel", None, None)
                        }
                        _ => ("text", None, None),
                    },
                };
                let max_length = schema.get("maxLength").and_then(Value::as_u64);
                let hinted = schema.get("x-multiline").and_then(Value::as_bool) == Some(true)
                    || matches!(format, Some("textarea" | "multiline"));
                let long = kind == Kind::String
                    && input_type == "text"
                    && (hinted
                        || max_length.is_some_and(|m| m > LONG_TEXT)
                        || (max_length.is_none() && PROSE_NAMES.contains(&name.as_str())));
                // A value with a zone (an earlier call's) keeps it, in a
                // hidden field beside the input that shows local time.
                let zone = matches!(input_type, "datetime-local" | "time")
                    .then(|| zone_of(&raw))
                    .flatten()
                    .or_else(|| state.values.get(&format!("{pointer}#tz")).cloned());
                let raw = match input_type {
                    "datetime-local" | "time" => local_part(&raw),
                    _ => raw,
                };
                let min = limit(schema, "minimum");
                let max = limit(schema, "maximum");
                let min_length = schema.get("minLength").map(text_of);
                let max_length = max_length.map(|m| m.to_string());
                let spell = matches!(format, Some("uuid" | "email" | "uri" | "url"));
                html! {
                    div.field {
                        (label)
                        @if long {
                            textarea id=(id) name=(pointer) rows="4" aria-required=[required.then_some("true")]
                                minlength=[min_length] maxlength=[max_length]
                                aria-describedby=[described_by] aria-invalid=[invalid] { (raw) }
                        } @else {
                            input type=(input_type) id=(id) name=(pointer) value=(raw) step=[step]
                                inputmode=[inputmode] spellcheck=[spell.then_some("false")]
                                autocapitalize=[spell.then_some("off")]
                                min=[min] max=[max] minlength=[min_length] maxlength=[max_length]
                                aria-required=[required.then_some("true")]
                                aria-describedby=[described_by] aria-invalid=[invalid];
                        }
                        @if let Some(zone) = zone.filter(|z| valid_offset(z)) {
                            input type="hidden" name=(format!("{pointer}#tz")) value=(zone);
                        }
                        (help)
                        (error)
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
                            aria-describedby=[described_by] aria-invalid=[invalid] { (raw) }
                        (help)
                        (error)
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn array(
        &self,
        schema: &Value,
        pointer: &str,
        label_text: &str,
        default: &Value,
        depth: usize,
        help: Markup,
        described_by: Option<String>,
        required_mark: Markup,
    ) -> Markup {
        let (state, tr) = (self.state, self.tr);
        let items = schema.get("items").unwrap_or(&Value::Null);
        let item = item_title(schema, resolve_ref(self.root, items), label_text);
        let default_rows = default.as_array().map(Vec::len).unwrap_or(0);
        let min_rows = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
        let rows = state
            .rows
            .get(pointer)
            .copied()
            .unwrap_or_else(|| default_rows.max(min_rows).max(1))
            .min(MAX_ROWS);
        html! {
            fieldset.group.array aria-describedby=[described_by] {
                legend { (label_text) (required_mark) }
                (help)
                input type="hidden" name=(format!("{pointer}#rows")) value=(rows);
                @if rows == 0 { p.empty { (tr.t("form-no-rows")) } }
                @for i in 0..rows {
                    @let row = format!("{pointer}/{i}");
                    @let row_label = format!("{item} {}", i + 1);
                    @let item_default = default.get(i).cloned().unwrap_or(Value::Null);
                    div.row {
                        (self.field(items, &row, &row_label, false, &item_default, depth + 1))
                        button.secondary.small.remove type="submit" name="_remove" value=(row) formnovalidate {
                            (tr.t("form-remove")) span.visually-hidden { " " (row_label) }
                        }
                    }
                }
                button.secondary type="submit" name="_add" value=(pointer) formnovalidate {
                    (tr.a("form-add-row", &[("item", Arg::from(&item))]))
                }
            }
        }
    }
}

/// Where a date-time's or time's zone begins, if it has one.
fn zone_start(raw: &str) -> Option<usize> {
    raw.find(['Z', 'z', '+']).or_else(|| {
        raw.rfind('-')
            .filter(|i| *i > 10 || (!raw.contains('T') && *i > 0))
    })
}

/// A date-time's or time's zone (`Z`, `+07:00`), if it has one.
fn zone_of(raw: &str) -> Option<String> {
    let zone = &raw[zone_start(raw)?..];
    let zone = if zone.eq_ignore_ascii_case("z") {
        "Z"
    } else {
        zone
    };
    valid_offset(zone).then(|| zone.to_string())
}

/// A date-time or time as its `<input>` shows it: without its zone (kept
/// beside it, so running it again means the same instant).
fn local_part(raw: &str) -> String {
    let local = &raw[..zone_start(raw).unwrap_or(raw.len())];
    // `HH:MM:00` → `HH:MM` (what the input shows); `HH:MM` stays.
    let time = local.rsplit('T').next().unwrap_or(local);
    match local.strip_suffix(":00") {
        Some(shorter) if time.matches(':').count() == 2 => shorter.to_string(),
        _ => local.to_string(),
    }
}

/// The tool's arguments from a submitted form, shaped by the schema. Values
/// that do not parse are passed on as text, so the validator names the
/// field and the rule.
pub fn arguments(schema: &Value, state: &FormState) -> Value {
    let root = resolve_ref(schema, schema);
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
    let schema = resolve_ref(root, schema);
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
        // A checkbox (required, or with a default) is `false` unchecked; a
        // yes/no/unset choice is left out when unset.
        Kind::Boolean if !required && !schema.get("default").is_some_and(Value::is_boolean) => {
            match raw {
                Some("true") => Some(Value::Bool(true)),
                Some("false") => Some(Value::Bool(false)),
                _ => None,
            }
        }
        Kind::Boolean => Some(Value::Bool(raw == Some("true"))),
        Kind::Enum => {
            let raw = raw.filter(|r| !r.is_empty())?;
            let options = schema.get("enum").and_then(Value::as_array)?;
            Some(
                raw.strip_prefix('#')
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| options.get(i).cloned())
                    .or_else(|| options.iter().find(|o| text_of(o) == raw).cloned())
                    .unwrap_or_else(|| Value::String(raw.to_string())),
            )
        }
        Kind::String => {
            let raw = raw.filter(|r| !r.is_empty())?;
            // The field's own zone (kept from an earlier call, or the
            // browser's for that date), else the page's, else UTC.
            let own = state
                .values
                .get(&format!("{pointer}#tz"))
                .filter(|z| valid_offset(z));
            let offset = own.or(state.offset.as_ref()).map_or("Z", String::as_str);
            let value = match format_of(schema) {
                Some("date-time") if is_local_date_time(raw) => {
                    format!("{}{offset}", with_seconds(raw))
                }
                Some("time") if is_local_time(raw) => format!("{}{offset}", with_seconds(raw)),
                _ => raw.to_string(),
            };
            Some(Value::String(value))
        }
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

/// `2026-12-31T09:30` or `…T09:30:15` (what `datetime-local` sends).
fn is_local_date_time(raw: &str) -> bool {
    raw.split_once('T')
        .is_some_and(|(date, time)| date.len() == 10 && is_local_time(time))
}

/// `09:30` or `09:30:15` (what `time` sends), no zone.
/// `09:30`, `09:30:15` or `09:30:15.250` (what `time` sends), no zone.
fn is_local_time(raw: &str) -> bool {
    let (clock, fraction) = raw.split_once('.').unwrap_or((raw, "0"));
    matches!(clock.len(), 5 | 8)
        && clock.bytes().all(|b| b.is_ascii_digit() || b == b':')
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn with_seconds(raw: &str) -> String {
    if raw.rsplit_once('T').map_or(raw, |(_, t)| t).len() == 5 {
        format!("{raw}:00")
    } else {
        raw.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::i18n::Lang;
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
                "tags": {"type": "array", "items": {"type": "string", "title": "Tag"}},
                "extra": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                "phone": {"type": "string", "maxLength": 20},
                "email": {"type": "string", "format": "email"},
                "when": {"type": "string", "format": "date-time"}
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

    fn en() -> Tr {
        Tr::new(Lang::En)
    }

    #[test]
    fn a_filled_form_becomes_typed_arguments() {
        let state = FormState::from_pairs(&pairs(&[
            ("_tz", "+07:00"),
            ("/question", "Why?"),
            ("/tone", "#0"),
            ("/count", "3"),
            ("/verbose", "true"),
            ("/customer/name", "Ada"),
            ("/customer/plan", "#2"),
            ("/tags#rows", "3"),
            ("/tags/0", "a"),
            ("/tags/1", ""),
            ("/tags/2", "c"),
            ("/extra", "42"),
            ("/when", "2026-12-31T09:30"),
        ]));
        assert_eq!(
            arguments(&schema(), &state),
            json!({
                "question": "Why?", "tone": "friendly", "count": 3, "verbose": true,
                "customer": {"name": "Ada", "plan": 3}, "tags": ["a", "c"], "extra": 42,
                "when": "2026-12-31T09:30:00+07:00"
            })
        );
    }

    #[test]
    fn empty_optional_fields_are_left_out_and_bad_numbers_pass_as_text() {
        let state = FormState::from_pairs(&pairs(&[
            ("/question", ""),
            ("/count", "lots"),
            ("/verbose", ""),
            ("/customer/name", ""),
            ("/tags#rows", "1"),
            ("/tags/0", ""),
        ]));
        // An optional boolean left unset is not sent (not even as false).
        assert_eq!(arguments(&schema(), &state), json!({"count": "lots"}));
        let state = FormState::from_pairs(&pairs(&[("/verbose", "false")]));
        assert_eq!(arguments(&schema(), &state)["verbose"], json!(false));
    }

    #[test]
    fn a_removed_row_takes_its_values_and_later_rows_move_up() {
        let mut state = FormState::from_pairs(&pairs(&[
            ("/tags#rows", "3"),
            ("/tags/0", "a"),
            ("/tags/1", "b"),
            ("/tags/2", "c"),
        ]));
        state.remove_row("/tags/1");
        assert_eq!(arguments(&schema(), &state)["tags"], json!(["a", "c"]));
        state.remove_row("/tags/0");
        state.remove_row("/tags/0");
        assert!(arguments(&schema(), &state).get("tags").is_none());
        let html = render(&schema(), &state, &en()).into_string();
        assert!(html.contains("None yet."), "{html}");
    }

    #[test]
    fn problems_land_on_their_fields_in_plain_words() {
        let s = schema();
        let validator = crate::catalog::compile(&s).expect("compiles");
        let mut state = FormState::from_pairs(&pairs(&[
            ("/count", "9"),
            ("/email", "not-an-email"),
            ("/customer/plan", "#1"),
        ]));
        let args = arguments(&s, &state);
        let problems = crate::calls::argument_errors(&validator, &s, &args);
        state.attach_errors(&s, &problems, &en());
        assert_eq!(state.errors["/question"], vec!["Enter question."]);
        assert_eq!(state.errors["/tone"], vec!["Choose an option for tone."]);
        assert_eq!(
            state.errors["/count"],
            vec!["Enter a whole number from 1 to 5."]
        );
        assert_eq!(
            state.errors["/email"],
            vec!["Enter an email address like name@example.com."]
        );
        assert!(state.errors.contains_key("/customer/name"));
        let summary: Vec<&str> = state.summary.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(summary[0], "question: Enter question.", "{summary:?}");
        assert_eq!(summary[1], "tone: Choose an option for tone.");
        assert_eq!(summary[2], "count: Enter a whole number from 1 to 5.");
        assert_eq!(
            state.summary[0].target.as_deref(),
            Some(field_id("/question").as_str())
        );
        let all = summary.join(" ");
        assert!(
            !all.contains("rule") && !all.contains("<=") && !all.contains('^'),
            "{all}"
        );
        let vi = Tr::new(Lang::Vi);
        let mut state = FormState::from_pairs(&pairs(&[("/count", "9")]));
        let problems = crate::calls::argument_errors(&validator, &s, &arguments(&s, &state));
        state.attach_errors(&s, &problems, &vi);
        assert_eq!(
            state.errors["/count"],
            vec!["Hãy nhập số nguyên từ 1 đến 5."]
        );
    }

    #[test]
    fn the_form_has_a_labelled_control_per_field_and_escapes_text() {
        let mut s = schema();
        s["properties"]["question"]["description"] = json!("<script>alert(1)</script>");
        let html = render(&s, &FormState::default(), &en()).into_string();
        for pointer in [
            "/question",
            "/tone",
            "/count",
            "/verbose",
            "/customer/name",
            "/extra",
            "/phone",
        ] {
            let id = field_id(pointer);
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "label for {pointer}: {html}"
            );
            assert!(html.contains(&format!("id=\"{id}\"")), "control {pointer}");
        }
        assert!(
            html.contains("<option value=\"#1\" selected>formal</option>"),
            "{html}"
        );
        assert!(html.contains("min=\"1\"") && html.contains("max=\"5\""));
        assert!(html.contains("A whole number from 1 to 5."), "bounds shown");
        assert!(html.contains("Default: formal."), "default shown");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        // Short strings are one line; prose is a text area; formats have types.
        assert!(
            html.contains(&format!("type=\"tel\" id=\"{}\"", field_id("/phone"))),
            "{html}"
        );
        assert!(html.contains(&format!("textarea id=\"{}\"", field_id("/question"))));
        assert!(html.contains(&format!("type=\"email\" id=\"{}\"", field_id("/email"))));
        assert!(html.contains(&format!(
            "type=\"datetime-local\" id=\"{}\"",
            field_id("/when")
        )));
        // Fields in the author's order.
        let at = |p: &str| html.find(&format!("id=\"{}\"", field_id(p))).expect(p);
        assert!(at("/question") < at("/tone") && at("/tone") < at("/count"));
        assert!(at("/extra") < at("/phone") && at("/phone") < at("/email"));
    }

    #[test]
    fn arrays_are_labelled_in_the_singular_and_rows_can_go() {
        let state = FormState::from_pairs(&pairs(&[("/tags#rows", "2")]));
        let html = render(&schema(), &state, &en()).into_string();
        assert!(html.contains("Tag 1") && html.contains("Tag 2"), "{html}");
        assert!(html.contains("Add Tag"), "{html}");
        assert!(
            html.contains("name=\"_remove\" value=\"/tags/1\""),
            "{html}"
        );
    }

    #[test]
    fn an_earlier_calls_arguments_fill_the_form() {
        let s = schema();
        let args = json!({"question": "Why?", "tone": "formal", "tags": ["x", "y"], "customer": {"name": "Ada"}});
        let state = FormState::from_arguments(&args);
        assert_eq!(arguments(&s, &state), args);
    }

    #[test]
    fn ids_are_distinct_for_distinct_pointers() {
        assert_ne!(field_id("/a/b"), field_id("/a_b"));
        assert_ne!(field_id("/a~1b"), field_id("/a/b"));
    }

    #[test]
    fn a_recursive_schema_stops() {
        let s = json!({"type": "object", "properties": {"node": {"$ref": "#"}}});
        let html = render(&s, &FormState::default(), &en()).into_string();
        assert!(html.contains("Enter a JSON value."));
    }

    #[test]
    fn local_parts_of_times() {
        assert_eq!(local_part("2026-12-31T09:30:00+07:00"), "2026-12-31T09:30");
        assert_eq!(local_part("09:30:00Z"), "09:30");
        assert_eq!(local_part("09:30:15-05:00"), "09:30:15");
        // Without seconds, nothing is cut.
        assert_eq!(local_part("2026-12-31T10:00Z"), "2026-12-31T10:00");
        assert_eq!(local_part("10:00+07:00"), "10:00");
        assert_eq!(zone_of("2026-12-31T09:30:00Z").as_deref(), Some("Z"));
        assert_eq!(zone_of("09:30:15-05:00").as_deref(), Some("-05:00"));
        assert_eq!(zone_of("2026-12-31T09:30"), None);
    }

    /// Running an earlier call again sends the same instants, whatever the
    /// browser's zone; fractional seconds survive.
    #[test]
    fn an_earlier_calls_times_keep_their_zone() {
        let s = json!({"type": "object", "properties": {
            "when": {"type": "string", "format": "date-time"},
            "at": {"type": "string", "format": "time"}
        }});
        let args = json!({"when": "2026-12-31T09:30:00Z", "at": "09:30:00.5-05:00"});
        let html = render(&s, &FormState::from_arguments(&args), &en()).into_string();
        assert!(html.contains("name=\"/when#tz\" value=\"Z\""), "{html}");
        assert!(html.contains("name=\"/at#tz\" value=\"-05:00\""), "{html}");
        // What the browser then posts: the shown local values, the kept
        // zones, and its own (different) offset.
        let posted = FormState::from_pairs(&pairs(&[
            ("_tz", "+07:00"),
            ("/when", "2026-12-31T09:30"),
            ("/when#tz", "Z"),
            ("/at", "09:30:00.5"),
            ("/at#tz", "-05:00"),
        ]));
        assert_eq!(arguments(&s, &posted), args);
    }
}
