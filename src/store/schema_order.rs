//! The author's order of the fields in an agent's `input_schema`, recorded
//! beside it so that every read gives it back.
//!
//! A form lists its fields in the order of the schema's `properties`, and
//! `serde_json` (with `preserve_order`) keeps that order in memory, on the
//! wire and in SQLite's text column. PostgreSQL's `jsonb` does not: it sorts
//! an object's keys by length, then bytes. So every write of `input_schema`
//! also writes `agents.input_schema_order` ([`record`]) and every read puts
//! the order back ([`apply`]). SQLite gets the same record (it changes
//! nothing there). Rows written before migration 0019 have no record: on
//! PostgreSQL they stay in `jsonb`'s order until their schema is written again.
//!
//! The record is a JSON object: the JSON pointer (RFC 6901) of every schema
//! object whose `properties` has two or more keys → those keys in order:
//!
//! ```json
//! {"": ["trip_title", "cabin", "legs", "contact"],
//!  "/properties/legs/items": ["to", "from", "date"],
//!  "/$defs/customer": ["name", "email"]}
//! ```
//!
//! Only schema positions are walked (`properties`, `$defs`, `items`,
//! `anyOf`, `additionalProperties`, …), [`MAX_DEPTH`] schemas deep; a
//! `properties` key inside data (`default`, `examples`, `const`) is not a
//! form's fields. Only the order of `properties` is kept: a schema's other
//! keys (its keywords) come back in the order the database gives.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Schemas nested deeper than this keep the order the database gives.
pub const MAX_DEPTH: usize = 64;

/// Keywords whose value is a schema or an array of schemas.
const IN_PLACE: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
];

/// Keywords whose value maps names to schemas.
const BY_NAME: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
];

/// The order of every `properties` map in `schema` (see the module docs).
pub fn record(schema: &Value) -> Value {
    let mut order = Map::new();
    walk(schema, &mut String::new(), 0, &mut order);
    Value::Object(order)
}

/// Put each `properties` map of `schema` in the order `order` recorded.
/// Keys the record does not name (the stored schema was edited directly)
/// come after the named ones, in their stored order; named keys no longer
/// there are skipped, as are entries that do not point to a `properties`
/// map. An order that is not a record (`null`, anything else) changes nothing.
pub fn apply(schema: &mut Value, order: &Value) {
    let Some(order) = order.as_object() else {
        return;
    };
    for (pointer, names) in order {
        let Some(names) = names.as_array() else {
            continue;
        };
        if let Some(properties) = schema
            .pointer_mut(pointer)
            .and_then(|s| s.get_mut("properties"))
            .and_then(Value::as_object_mut)
        {
            reorder(properties, names);
        }
    }
}

/// Whether every `properties` map of `a` and `b` has its keys in the same
/// order (`a == b` on [`Value`]s does not look at order).
pub fn same_order(a: &Value, b: &Value) -> bool {
    // Values of the record are arrays, which compare in order.
    record(a) == record(b)
}

fn walk(schema: &Value, pointer: &mut String, depth: usize, order: &mut Map<String, Value>) {
    let Some(object) = schema.as_object() else {
        return;
    };
    if depth >= MAX_DEPTH {
        return;
    }
    if let Some(Value::Object(properties)) = object.get("properties")
        && properties.len() > 1
    {
        let names = properties.keys().cloned().map(Value::String).collect();
        order.insert(pointer.clone(), Value::Array(names));
    }
    for (keyword, value) in object {
        let len = pointer.len();
        push_segment(pointer, keyword);
        if BY_NAME.contains(&keyword.as_str()) {
            if let Some(map) = value.as_object() {
                for (name, sub) in map {
                    let at = pointer.len();
                    push_segment(pointer, name);
                    walk(sub, pointer, depth + 1, order);
                    pointer.truncate(at);
                }
            }
        } else if IN_PLACE.contains(&keyword.as_str()) {
            match value {
                Value::Array(items) => {
                    for (i, sub) in items.iter().enumerate() {
                        let at = pointer.len();
                        push_segment(pointer, &i.to_string());
                        walk(sub, pointer, depth + 1, order);
                        pointer.truncate(at);
                    }
                }
                sub => walk(sub, pointer, depth + 1, order),
            }
        }
        pointer.truncate(len);
    }
}

/// `/` and the segment, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    for c in segment.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn reorder(properties: &mut Map<String, Value>, names: &[Value]) {
    let mut rank: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().filter_map(Value::as_str).enumerate() {
        rank.entry(name).or_insert(i);
    }
    let mut entries: Vec<(String, Value)> = std::mem::take(properties).into_iter().collect();
    // Stable: the keys the record does not name keep their stored order.
    entries.sort_by_key(|(name, _)| rank.get(name.as_str()).copied().unwrap_or(usize::MAX));
    properties.extend(entries);
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// What `jsonb` does to every object: keys by length, then bytes.
    fn as_jsonb(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), as_jsonb(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(as_jsonb).collect()),
            other => other.clone(),
        }
    }

    fn trip() -> Value {
        json!({
            "type": "object",
            "properties": {
                "trip_title": {"type": "string"},
                "cabin": {"enum": ["economy", "business"]},
                "legs": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"to": {}, "from": {}, "date": {"format": "date"}}
                }},
                "contact": {"type": "object", "properties": {"phone": {}, "email": {}}},
                "a/b": {"type": "object", "properties": {"zeta": {}, "mu": {}}},
                "~": {"anyOf": [
                    {"type": "null"},
                    {"type": "object", "properties": {"yy": {}, "x": {}}}
                ]},
                "extra": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"long_name": {}, "id": {}}
                }},
                "customer": {"$ref": "#/$defs/customer"}
            },
            "$defs": {"customer": {"type": "object", "properties": {"surname": {}, "given": {}}}},
            "default": {"properties": {"not_a": 1, "schema": 2}}
        })
    }

    #[test]
    fn records_every_properties_map_by_pointer() {
        let order = record(&trip());
        assert_eq!(
            order,
            json!({
                "": ["trip_title", "cabin", "legs", "contact", "a/b", "~", "extra", "customer"],
                "/properties/legs/items": ["to", "from", "date"],
                "/properties/contact": ["phone", "email"],
                "/properties/a~1b": ["zeta", "mu"],
                "/properties/~0/anyOf/1": ["yy", "x"],
                "/properties/extra/additionalProperties": ["long_name", "id"],
                "/$defs/customer": ["surname", "given"]
            })
        );
    }

    #[test]
    fn apply_undoes_jsonb_everywhere_recorded() {
        let schema = trip();
        let order = record(&schema);
        let mut stored = as_jsonb(&schema);
        assert_ne!(keys(&stored["properties"]), keys(&schema["properties"]));
        apply(&mut stored, &as_jsonb(&order));
        for pointer in [
            "/properties",
            "/properties/legs/items/properties",
            "/properties/contact/properties",
            "/properties/a~1b/properties",
            "/properties/~0/anyOf/1/properties",
            "/properties/extra/additionalProperties/properties",
            "/$defs/customer/properties",
        ] {
            assert_eq!(
                keys(stored.pointer(pointer).expect(pointer)),
                keys(schema.pointer(pointer).expect(pointer)),
                "{pointer}"
            );
        }
        assert!(same_order(&stored, &schema));
        assert_eq!(stored, schema, "and nothing else changed");
    }

    #[test]
    fn a_stale_record_keeps_what_it_can() {
        let mut stored = json!({"type": "object", "properties": {
            "b": {}, "new_2": {}, "a": {}, "new_1": {}, "c": {}
        }});
        // "gone" was removed and new_2, new_1 added behind the record's back.
        apply(&mut stored, &json!({"": ["c", "gone", "a", "b", "c"]}));
        assert_eq!(
            keys(&stored["properties"]),
            ["c", "a", "b", "new_2", "new_1"]
        );
    }

    #[test]
    fn records_that_do_not_fit_change_nothing() {
        let schema = json!({"type": "object", "properties": {"b": {}, "a": {}}});
        for order in [
            Value::Null,
            json!([]),
            json!({"": "b,a"}),
            json!({"/nowhere": ["a", "b"]}),
            json!({"/properties/b": ["a", "b"]}),
            json!({"no-slash": ["a", "b"]}),
            json!({"": [1, null]}),
        ] {
            let mut stored = schema.clone();
            apply(&mut stored, &order);
            assert_eq!(keys(&stored["properties"]), ["b", "a"], "{order}");
        }
    }

    #[test]
    fn a_single_field_or_no_schema_records_nothing() {
        assert_eq!(record(&json!({"properties": {"only": {}}})), json!({}));
        assert_eq!(record(&json!(true)), json!({}));
        assert_eq!(record(&Value::Null), json!({}));
    }

    #[test]
    fn depth_is_bounded() {
        let mut schema = json!({"properties": {"b": {}, "a": {}}});
        for _ in 0..(MAX_DEPTH + 10) {
            schema = json!({"properties": {"z": schema, "y": {}}});
        }
        let order = record(&schema);
        let recorded = order.as_object().expect("object");
        assert_eq!(recorded.len(), MAX_DEPTH);
        assert!(
            recorded
                .keys()
                .all(|p| p.len() < MAX_DEPTH * "/properties/z".len())
        );
        // The record of a deep schema comes back intact.
        let mut stored = as_jsonb(&schema);
        apply(&mut stored, &order);
        assert_eq!(keys(&stored["properties"]), ["z", "y"]);
    }
}
