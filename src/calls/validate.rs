//! Argument validation messages: each failing field's path and the schema
//! rule it broke — never the offending value (it may be a secret, or huge).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// At most this many problems are listed.
const MAX_ERRORS: usize = 20;

/// `"/path: what is wrong (rule: keyword)"` for each violation, or empty.
pub fn validation_errors(validator: &jsonschema::Validator, arguments: &Value) -> Vec<String> {
    if validator.is_valid(arguments) {
        return Vec::new();
    }
    let mut out: Vec<String> = validator
        .iter_errors(arguments)
        .take(MAX_ERRORS)
        .map(|e| {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() {
                "(arguments)".to_string()
            } else {
                path
            };
            format!(
                "{path}: {} (rule: {})",
                describe(e.kind()),
                e.kind().keyword()
            )
        })
        .collect();
    out.dedup();
    out
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

fn describe(kind: &ValidationErrorKind) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind } => match kind {
            TypeKind::Single(t) => format!("must be of type {t}"),
            TypeKind::Multiple(set) => format!(
                "must be one of the types {}",
                set.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        K::Required { property } => format!("missing required property {property}"),
        K::AdditionalProperties { unexpected } => {
            format!("unexpected properties: {}", unexpected.join(", "))
        }
        K::Enum { options } => format!("must be one of {}", short(options)),
        K::Constant { expected_value } => format!("must equal {}", short(expected_value)),
        K::MinLength { limit } => format!("must be at least {limit} characters long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::Minimum { limit } => format!("must be >= {limit}"),
        K::Maximum { limit } => format!("must be <= {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be > {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be < {limit}"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinProperties { limit } => format!("must have at least {limit} properties"),
        K::MaxProperties { limit } => format!("must have at most {limit} properties"),
        K::Pattern { pattern } => format!("must match the pattern {pattern}"),
        K::Format { format } => format!("must be a valid {format}"),
        K::UniqueItems => "items must be unique".into(),
        K::MultipleOf { .. } => "must be a multiple of the schema's multipleOf".into(),
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
        K::UnevaluatedProperties { unexpected } => {
            format!("unexpected properties: {}", unexpected.join(", "))
        }
        K::UnevaluatedItems { .. } => "has unexpected items".into(),
        other => format!("violates the '{}' rule", other.keyword()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn messages_name_field_and_rule_but_not_value() {
        let schema = json!({
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 3},
                "n": {"type": "integer", "maximum": 5},
                "mode": {"enum": ["a", "b"]}
            },
            "required": ["question"],
            "additionalProperties": false
        });
        let v = jsonschema::validator_for(&schema).expect("compiles");
        let errors = validation_errors(&v, &json!({"n": "sk-SECRET-VALUE", "mode": "c", "x": 1}));
        let all = errors.join("\n");
        assert!(
            all.contains("(arguments): missing required property \"question\" (rule: required)"),
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
        assert!(
            all.contains("unexpected properties: x (rule: additionalProperties)"),
            "{all}"
        );
        assert!(!all.contains("sk-SECRET"), "{all}");
        assert!(validation_errors(&v, &json!({"question": "hello"})).is_empty());
    }
}
