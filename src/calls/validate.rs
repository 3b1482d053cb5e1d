//! Argument validation: each failing field's JSON pointer, the schema rule
//! it broke and what it asks for — never the offending value (it may be a
//! secret, or huge). Listed in the schema's field order (the author's), so
//! an assistant and a person read them top to bottom as the form reads.
//!
//! [`argument_errors`] gives them structured (the web app words them in
//! the reader's language); [`validation_errors`] as the assistants' lines,
//! `"/path: sentence (rule: keyword)"`.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// At most this many problems are listed.
const MAX_ERRORS: usize = 20;
/// How deep `$ref`s are followed when ranking fields.
const MAX_DEPTH: usize = 16;

/// One failing field.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgumentError {
    /// The field's JSON pointer in the arguments (`""` is the arguments
    /// themselves); for a missing property, the property's own pointer.
    pub pointer: String,
    /// The JSON Schema keyword it broke (`required`, `maximum`, …).
    pub rule: String,
    pub problem: Problem,
}

/// What a rule asks for, with its limits (never the value given).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Required,
    Type(Vec<String>),
    /// The allowed values, as JSON (shortened).
    Enum(String),
    Const(String),
    MinLength(u64),
    MaxLength(u64),
    Minimum(Value),
    Maximum(Value),
    ExclusiveMinimum(Value),
    ExclusiveMaximum(Value),
    MultipleOf,
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    /// The regular expression (for assistants; never shown on pages).
    Pattern(String),
    Format(String),
    Unexpected(Vec<String>),
    /// Any other rule, in the assistants' words.
    Other(String),
}

/// The structured problems, in field order, at most [`MAX_ERRORS`].
pub fn argument_errors(
    validator: &jsonschema::Validator,
    schema: &Value,
    arguments: &Value,
) -> Vec<ArgumentError> {
    if validator.is_valid(arguments) {
        return Vec::new();
    }
    let mut out: Vec<ArgumentError> = validator
        .iter_errors(arguments)
        .take(MAX_ERRORS * 4)
        .map(|e| {
            let mut pointer = e.instance_path().to_string();
            if let ValidationErrorKind::Required { property } = e.kind() {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_string);
                pointer = format!("{pointer}/{}", escape_pointer(&name));
            }
            ArgumentError {
                pointer,
                rule: e.kind().keyword().to_string(),
                problem: problem(e.kind()),
            }
        })
        .collect();
    // Stable: the validator's order breaks ties within a field.
    out.sort_by_cached_key(|e| field_rank(schema, &e.pointer));
    out.dedup();
    out.truncate(MAX_ERRORS);
    out
}

/// `"/path: sentence (rule: keyword)"` for each violation, or empty.
pub fn validation_errors(
    validator: &jsonschema::Validator,
    schema: &Value,
    arguments: &Value,
) -> Vec<String> {
    argument_errors(validator, schema, arguments)
        .iter()
        .map(ArgumentError::assistant_line)
        .collect()
}

impl ArgumentError {
    /// The line an assistant reads: where, what to do, which rule.
    pub fn assistant_line(&self) -> String {
        let path = if self.pointer.is_empty() {
            "(arguments)"
        } else {
            &self.pointer
        };
        format!(
            "{path}: {} (rule: {})",
            self.problem.sentence(&self.pointer),
            self.rule
        )
    }
}

/// Where a pointer's field sits in the schema's order: each segment's
/// position among its parent's `properties` (array indexes as they are);
/// unknown names after the known ones.
pub fn field_rank(schema: &Value, pointer: &str) -> Vec<usize> {
    let mut rank = Vec::new();
    let mut current = Some(schema);
    for segment in pointer.split('/').skip(1) {
        let segment = unescape_pointer(segment);
        let node = current.map(|s| resolve_ref(schema, s));
        if let Ok(index) = segment.parse::<usize>()
            && node.is_some_and(|n| n.get("items").is_some() || n.get("properties").is_none())
        {
            rank.push(index);
            current = node.and_then(|n| n.get("items"));
            continue;
        }
        let props = node
            .and_then(|n| n.get("properties"))
            .and_then(Value::as_object);
        match props.and_then(|p| p.keys().position(|k| *k == segment)) {
            Some(i) => {
                rank.push(i);
                current = props.and_then(|p| p.get(&segment));
            }
            None => {
                rank.push(usize::MAX);
                current = None;
            }
        }
    }
    rank
}

/// The schema a local `$ref` points to (through a bounded chain of them),
/// else the schema itself.
pub fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

/// One JSON pointer segment (RFC 6901): `~` and `/` escaped.
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer segment as the name it stands for.
pub fn unescape_pointer(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(80).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// An example of a valid value, for the formats people type.
pub fn format_example(format: &str) -> Option<&'static str> {
    Some(match format {
        "email" | "idn-email" => "name@example.com",
        "date" => "2026-12-31",
        "date-time" => "2026-12-31T09:30:00+07:00",
        "time" => "09:30:00+07:00",
        "uri" | "iri" | "url" => "https://example.com/page",
        "uuid" => "123e4567-e89b-12d3-a456-426614174000",
        _ => return None,
    })
}

fn problem(kind: &ValidationErrorKind) -> Problem {
    use ValidationErrorKind as K;
    match kind {
        K::Required { .. } => Problem::Required,
        K::Type { kind } => Problem::Type(match kind {
            TypeKind::Single(t) => vec![t.to_string()],
            TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
        }),
        K::Enum { options } => Problem::Enum(short(options)),
        K::Constant { expected_value } => Problem::Const(short(expected_value)),
        K::MinLength { limit } => Problem::MinLength(*limit),
        K::MaxLength { limit } => Problem::MaxLength(*limit),
        K::Minimum { limit } => Problem::Minimum(limit.clone()),
        K::Maximum { limit } => Problem::Maximum(limit.clone()),
        K::ExclusiveMinimum { limit } => Problem::ExclusiveMinimum(limit.clone()),
        K::ExclusiveMaximum { limit } => Problem::ExclusiveMaximum(limit.clone()),
        K::MultipleOf { .. } => Problem::MultipleOf,
        K::MinItems { limit } => Problem::MinItems(*limit),
        K::MaxItems { limit } => Problem::MaxItems(*limit),
        K::UniqueItems => Problem::UniqueItems,
        K::Pattern { pattern } => Problem::Pattern(pattern.clone()),
        K::Format { format } => Problem::Format(format.clone()),
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            Problem::Unexpected(unexpected.clone())
        }
        other => Problem::Other(other_sentence(other)),
    }
}

impl Problem {
    /// The assistants' sentence (English, precise: limits and options).
    fn sentence(&self, pointer: &str) -> String {
        match self {
            Problem::Required => {
                let name = pointer.rsplit('/').next().unwrap_or_default();
                let name = unescape_pointer(name);
                format!("missing required property {}", Value::String(name))
            }
            Problem::Type(types) => match types.as_slice() {
                [one] => format!("must be of type {one}"),
                many => format!("must be one of the types {}", many.join(", ")),
            },
            Problem::Enum(options) => format!("must be one of {options}"),
            Problem::Const(value) => format!("must equal {value}"),
            Problem::MinLength(n) => format!("must be at least {n} characters long"),
            Problem::MaxLength(n) => format!("must be at most {n} characters long"),
            Problem::Minimum(n) => format!("must be at least {n}"),
            Problem::Maximum(n) => format!("must be at most {n}"),
            Problem::ExclusiveMinimum(n) => format!("must be greater than {n}"),
            Problem::ExclusiveMaximum(n) => format!("must be less than {n}"),
            Problem::MultipleOf => "must be a multiple of the schema's multipleOf".into(),
            Problem::MinItems(n) => format!("must have at least {n} items"),
            Problem::MaxItems(n) => format!("must have at most {n} items"),
            Problem::UniqueItems => "items must be unique".into(),
            Problem::Pattern(pattern) => format!("must match the pattern {pattern}"),
            Problem::Format(format) => match format_example(format) {
                Some(example) => format!("must be a valid {format}, like {example}"),
                None => format!("must be a valid {format}"),
            },
            Problem::Unexpected(names) => format!("unexpected properties: {}", names.join(", ")),
            Problem::Other(text) => text.clone(),
        }
    }
}

fn other_sentence(kind: &ValidationErrorKind) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::AnyOf { .. } => "must match at least one of the allowed shapes (anyOf)".into(),
        K::OneOfNotValid { .. } => {
            "must match exactly one of the allowed shapes (oneOf); it matches none".into()
        }
        K::OneOfMultipleValid { .. } => {
            "must match exactly one of the allowed shapes (oneOf); it matches several".into()
        }
        K::Not { .. } => "must not match the excluded shape (not)".into(),
        K::FalseSchema => "is not allowed here".into(),
        K::Contains => "must contain an item matching the schema (contains)".into(),
        K::BacktrackLimitExceeded { .. } | K::RegexEngineFailure { .. } => {
            "could not be checked against the pattern (the pattern is too complex)".into()
        }
        K::UnevaluatedItems { .. } => "has unexpected items".into(),
        K::MinProperties { limit } => format!("must have at least {limit} properties"),
        K::MaxProperties { limit } => format!("must have at most {limit} properties"),
        other => format!("violates the '{}' rule", other.keyword()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 3},
                "n": {"type": "integer", "maximum": 5},
                "mode": {"enum": ["a", "b"]},
                "contact": {"type": "object", "properties": {
                    "phone": {"type": "string"},
                    "email": {"type": "string", "format": "email"}
                }, "required": ["phone"]},
                "when": {"type": "string", "format": "date"}
            },
            "required": ["title", "mode"],
            "additionalProperties": false
        })
    }

    fn compile(schema: &Value) -> jsonschema::Validator {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .expect("compiles")
    }

    #[test]
    fn messages_name_field_and_rule_but_not_value() {
        let s = schema();
        let v = compile(&s);
        let errors = validation_errors(
            &v,
            &s,
            &json!({"n": "sk-SECRET-VALUE", "mode": "c", "x": 1}),
        );
        let all = errors.join("\n");
        assert!(
            all.contains("/title: missing required property \"title\" (rule: required)"),
            "{all}"
        );
        assert!(
            all.contains("/n: must be of type integer (rule: type)"),
            "{all}"
        );
        assert!(
            all.contains("/mode: must be one of [\"a\",\"b\"] (rule: enum)"),
            "{all}"
        );
        assert!(all.contains("unexpected properties: x"), "{all}");
        assert!(!all.contains("sk-SECRET"), "{all}");
        assert!(validation_errors(&v, &s, &json!({"title": "hello", "mode": "a"})).is_empty());
    }

    #[test]
    fn errors_come_in_the_authors_field_order() {
        let s = schema();
        let v = compile(&s);
        let errors = argument_errors(
            &v,
            &s,
            &json!({"when": "31/12", "contact": {"email": "not-an-email"}, "n": 9, "title": "a"}),
        );
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/title",
                "/n",
                "/mode",
                "/contact/phone",
                "/contact/email",
                "/when"
            ],
            "{errors:?}"
        );
        assert_eq!(errors[1].problem, Problem::Maximum(json!(5)));
        assert_eq!(errors[4].problem, Problem::Format("email".into()));
        assert_eq!(
            errors[4].assistant_line(),
            "/contact/email: must be a valid email, like name@example.com (rule: format)"
        );
    }

    #[test]
    fn formats_are_checked() {
        for (format, good, bad) in [
            ("email", "name@example.com", "not-an-email"),
            ("date", "2026-12-31", "31/12/2026"),
            ("date-time", "2026-12-31T09:30:00+07:00", "tomorrow"),
            ("time", "09:30:00Z", "half past nine"),
            ("uri", "https://example.com/a", "example dot com"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
        ] {
            let s = json!({"type": "object", "properties": {"v": {"type": "string", "format": format}}});
            let v = compile(&s);
            assert!(
                argument_errors(&v, &s, &json!({"v": good})).is_empty(),
                "{format} {good}"
            );
            let errors = argument_errors(&v, &s, &json!({"v": bad}));
            assert_eq!(errors.len(), 1, "{format} {bad}");
            assert_eq!(errors[0].problem, Problem::Format(format.into()));
        }
    }

    #[test]
    fn ranks_follow_refs_and_arrays() {
        let s = json!({
            "type": "object",
            "properties": {
                "z": {"type": "string"},
                "legs": {"type": "array", "items": {"$ref": "#/$defs/leg"}}
            },
            "$defs": {"leg": {"type": "object", "properties": {"to": {}, "from": {}}}}
        });
        assert!(field_rank(&s, "/z") < field_rank(&s, "/legs/0/to"));
        assert!(field_rank(&s, "/legs/0/to") < field_rank(&s, "/legs/0/from"));
        assert!(field_rank(&s, "/legs/0/from") < field_rank(&s, "/legs/1/to"));
        assert!(field_rank(&s, "/legs") < field_rank(&s, "/nope"));
    }
}
