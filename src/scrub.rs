//! Removing secret values from anything that leaves a call: engine output,
//! error messages, snapshots. Engines can echo injected credentials back
//! (Flowise Agentflow V2 returns them in `agentFlowExecutedData`), so every
//! injected value is replaced wherever it appears, by exact string match.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;
use zeroize::Zeroizing;

pub const REDACTED: &str = "[REDACTED]";

/// The secret values of one call.
#[derive(Default)]
pub struct Scrubber {
    secrets: Vec<Zeroizing<String>>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.secrets.len())
    }
}

impl Scrubber {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<Zeroizing<String>> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| Zeroizing::new(s.to_string()))
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup_by(|a, b| a.as_str() == b.as_str());
        Self { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// Scrub every string and object key in a JSON value, in place.
    /// Returns how many strings were changed.
    pub fn value(&self, value: &mut Value) -> usize {
        if self.secrets.is_empty() {
            return 0;
        }
        let mut changed = 0;
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Cow::Owned(clean) = self.text(s) {
                        *s = clean;
                        changed += 1;
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    let dirty: Vec<String> = map
                        .keys()
                        .filter(|k| matches!(self.text(k), Cow::Owned(_)))
                        .cloned()
                        .collect();
                    for key in dirty {
                        if let Some(inner) = map.shift_remove(&key) {
                            map.insert(self.text(&key).into_owned(), inner);
                            changed += 1;
                        }
                    }
                    stack.extend(map.values_mut());
                }
                _ => {}
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scrubs_strings_keys_and_nested_values() {
        let s = Scrubber::new(["sk-abc123", "sk-abc123-longer", ""]);
        let mut v = json!({
            "text": "your key sk-abc123-longer and sk-abc123!",
            "agentFlowExecutedData": [{"data": {"input": {"openAIApiKey": "sk-abc123"}}}],
            "sk-abc123": 1,
            "n": 5
        });
        assert_eq!(s.value(&mut v), 3);
        let out = v.to_string();
        assert!(!out.contains("sk-abc123"), "{out}");
        assert_eq!(v["text"], "your key [REDACTED] and [REDACTED]!");
        assert_eq!(v["[REDACTED]"], 1);
        assert_eq!(s.text("nothing here"), "nothing here");
        assert!(matches!(s.text("nothing here"), Cow::Borrowed(_)));
        assert!(!format!("{s:?}").contains("sk-"));
    }
}
