//! What the benchmarks share: percentiles, the JSON part of an MCP answer,
//! and reading a `tools/list` page's `nextCursor` without building a DOM of
//! it.

use std::time::Duration;

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The `nextCursor` of a tools/list answer (plain JSON or one SSE `data:`
/// line). Scans the body without building a DOM of the whole page: the
/// list timings measure the gateway, not the bench client's allocator.
pub fn next_cursor(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Page {
        result: PageResult,
    }
    #[derive(serde::Deserialize)]
    struct PageResult {
        #[serde(rename = "nextCursor")]
        next_cursor: Option<String>,
    }
    let page: Page = serde_json::Deserializer::from_slice(json_part(body))
        .into_iter()
        .next()
        .and_then(Result::ok)
        .expect("a tools/list result");
    page.result.next_cursor
}

/// The JSON of an MCP answer: the body itself, or what follows its first
/// SSE `data:` field (the deserializer then stops at the end of that value).
pub fn json_part(body: &[u8]) -> &[u8] {
    match body.strip_prefix(b"data:") {
        Some(rest) => rest,
        None => body
            .windows(6)
            .position(|w| w == b"\ndata:")
            .map_or(body, |at| &body[at + 6..]),
    }
}
