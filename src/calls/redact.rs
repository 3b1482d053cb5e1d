//! Input snapshots keep what the user asked, minus anything that looks like
//! a credential: values under secret-sounding keys, strings with well-known
//! secret prefixes, and (exactly) the user's own injected credential values.

use serde_json::Value;

use crate::scrub::{REDACTED, Scrubber};

const SECRET_KEY_PARTS: &[&str] = &[
    "apikey",
    "api_key",
    "api-key",
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
];

const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "pk_live_",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xapp-",
    "AIza",
    "AKIA",
    "ASIA",
    "ya29.",
    "vak_",
    "Bearer ",
    "-----BEGIN",
];

fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

fn secret_looking(value: &str) -> bool {
    let v = value.trim_start();
    SECRET_PREFIXES
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= p.len() + 8)
}

/// A copy of `arguments` safe to store in `execution_logs.input_snapshot`.
pub fn input_snapshot(arguments: &Value, scrubber: &Scrubber) -> Value {
    let mut out = arguments.clone();
    redact_in_place(&mut out);
    scrubber.value(&mut out);
    out
}

fn redact_in_place(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if secret_key(key)
                        && !matches!(inner, Value::Null | Value::Bool(_) | Value::Number(_))
                    {
                        *inner = Value::String(REDACTED.into());
                    } else {
                        stack.push(inner);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::String(s) if secret_looking(s) => *s = REDACTED.into(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_by_key_prefix_and_exact_value() {
        let scrub = Scrubber::new(["my-own-secret-value"]);
        let args = json!({
            "question": "what is 2+2? my key is my-own-secret-value",
            "openai_api_key": "whatever",
            "nested": {"Authorization": "Bearer abc", "list": ["sk-abcdefghijklmnop", "ok", "sk-x"]},
            "token_count": 5,
            "flag": true
        });
        let snap = input_snapshot(&args, &scrub);
        assert_eq!(snap["question"], "what is 2+2? my key is [REDACTED]");
        assert_eq!(snap["openai_api_key"], "[REDACTED]");
        assert_eq!(snap["nested"]["Authorization"], "[REDACTED]");
        assert_eq!(snap["nested"]["list"], json!(["[REDACTED]", "ok", "sk-x"]));
        assert_eq!(snap["token_count"], 5, "numbers are not secrets");
        assert_eq!(snap["flag"], true);
    }
}
