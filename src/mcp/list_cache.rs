//! Repeated stateless `tools/list` requests answered from memory.
//!
//! Under the 2026-07-28 protocol there are no sessions, so clients may list
//! tools often, and a 1,000-tool page is ~365 kB of JSON that rmcp rebuilds
//! (clone + serialise every definition) each time: ~0.7 ms a page, more than
//! the transfer itself. When every user sees the same catalog (no priced
//! tools), the answer to a given request depends only on the request and
//! the catalog version, so the first answer rmcp gives is kept and replayed
//! with the new request's id.
//!
//! What counts as "the same request": the body with its `id` removed
//! (canonical JSON; a body with a repeated key is never cached) and every
//! header rmcp's streamable HTTP server reads (`content-type`, `accept`,
//! `host`, `origin`, `last-event-id`, `mcp-*`), each name's values in their
//! order. A request rmcp refused is never cached (only `200` JSON answers
//! carrying a `result`), so a cached answer is only ever given to a request
//! identical, as far as rmcp can tell, to one it accepted. Requests in a
//! 2025-era session (`mcp-session-id`) always go to rmcp. The cache empties
//! when the catalog version changes or a priced agent appears, and holds at
//! most [`MAX_BYTES`].

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::body::HttpBody;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Most bytes of answers kept (four variants of a 10,000-tool catalog).
pub const MAX_BYTES: usize = 16 << 20;

/// Largest answer body read back from rmcp to be kept.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Request headers rmcp's streamable HTTP server reads (besides `mcp-*`).
const KEY_HEADERS: &[&str] = &["content-type", "accept", "host", "origin", "last-event-id"];

/// Bytes counted per kept answer besides its body, key and headers (map
/// entry, allocations).
const ENTRY_OVERHEAD: usize = 512;

#[derive(Default)]
pub struct ListCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    version: u64,
    bytes: usize,
    answers: HashMap<Vec<u8>, Answer>,
}

impl State {
    fn reset(&mut self) {
        self.answers.clear();
        self.bytes = 0;
    }

    /// Move to catalog `version` (dropping what an older one left) and say
    /// whether answers for it belong here: not for a version already
    /// replaced.
    fn at_version(&mut self, version: u64) -> bool {
        if version > self.version {
            self.reset();
            self.version = version;
        }
        version == self.version
    }
}

#[derive(Clone)]
struct Answer {
    headers: HeaderMap,
    /// The body after the id, `,"result":…}`, in the chunks it came in
    /// (a page of tools is shared with the catalog, not copied).
    rest: Vec<Bytes>,
}

/// What an answer is counted as against [`MAX_BYTES`].
fn cost(key: &[u8], answer: &Answer) -> usize {
    let headers: usize = answer
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    answer.rest.iter().map(Bytes::len).sum::<usize>() + key.len() + headers + ENTRY_OVERHEAD
}

/// How rmcp's JSON answer to request `id` begins; the rest is kept.
fn answer_prefix(id: &Value) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id}"#)
}

/// A cacheable request: its key and its JSON-RPC id.
pub struct Lookup {
    key: Vec<u8>,
    id: Value,
    version: u64,
}

impl ListCache {
    /// The cache key of a `POST /mcp` request (`message` is `body` as the
    /// envelope check parsed it), if it may be answered from the cache: a
    /// stateless `tools/list` request while every user sees the same
    /// catalog.
    pub fn lookup_key(
        parts: &Parts,
        message: &Value,
        body: &[u8],
        version: u64,
        shared: bool,
    ) -> Option<Lookup> {
        if !shared
            || parts.headers.contains_key("mcp-session-id")
            || message.get("method").and_then(Value::as_str) != Some("tools/list")
        {
            return None;
        }
        // The parsed message kept the last of any repeated key.
        serde_json::from_slice::<NoRepeatedKeys>(body).ok()?;
        let mut message = message.as_object()?.clone();
        let id = message.remove("id")?;
        // The ids rmcp takes: strings and numbers that fit an i64.
        if !(id.is_string() || id.is_i64()) {
            return None;
        }
        let mut key = serde_json::to_vec(&message).ok()?;
        let mut headers: Vec<(&str, &[u8])> = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                KEY_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("mcp-")
            })
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        // By name only, stable: repeated values keep their order (rmcp reads
        // the first of some).
        headers.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in headers {
            key.push(0);
            key.extend_from_slice(name.as_bytes());
            key.push(b':');
            key.extend_from_slice(value);
        }
        key.push(0);
        key.extend_from_slice(parts.uri.to_string().as_bytes());
        Some(Lookup { key, id, version })
    }

    /// Drop every kept answer (the catalog now differs per user).
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.reset();
        }
    }

    /// The kept answer to `lookup`, with its id, if any.
    pub fn get(&self, lookup: &Lookup) -> Option<Response> {
        let mut state = self.state.lock().ok()?;
        if !state.at_version(lookup.version) {
            return None;
        }
        let answer = state.answers.get(&lookup.key)?.clone();
        drop(state);
        metrics::counter!("vieagent_tools_list_cache_total", "result" => "hit").increment(1);
        let mut chunks = Vec::with_capacity(answer.rest.len() + 1);
        chunks.push(Bytes::from(answer_prefix(&lookup.id)));
        chunks.extend(answer.rest);
        let mut response = Response::new(axum::body::Body::new(Chunks::new(chunks)));
        *response.headers_mut() = answer.headers;
        Some(response)
    }

    /// Pass rmcp's answer on, keeping it when it is a plain JSON result for
    /// this request and the catalog did not change meanwhile.
    pub async fn keep(&self, lookup: Lookup, current_version: u64, response: Response) -> Response {
        // Only a plain JSON answer is read back; anything else passes
        // through as it is.
        if !plain_json(&response) || current_version != lookup.version {
            return response;
        }
        metrics::counter!("vieagent_tools_list_cache_total", "result" => "miss").increment(1);
        let (parts, body) = response.into_parts();
        let Some(chunks) = chunks_of(body, MAX_ANSWER_BYTES).await else {
            tracing::error!("tools/list: the answer body failed");
            return crate::error::Error::Internal("tools/list answer".into()).into_response();
        };
        let prefix = answer_prefix(&lookup.id);
        if let Some((first, more)) = chunks.split_first()
            && let Some(rest) = first.strip_prefix(prefix.as_bytes())
            && rest.starts_with(br#","result":"#)
        {
            let mut headers = parts.headers.clone();
            headers.remove(header::CONTENT_LENGTH);
            headers.remove("x-request-id");
            let mut rest = vec![first.slice(prefix.len()..)];
            rest.extend_from_slice(more);
            self.insert(lookup, Answer { headers, rest });
        }
        Response::from_parts(parts, axum::body::Body::new(Chunks::new(chunks)))
    }

    fn insert(&self, lookup: Lookup, answer: Answer) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !state.at_version(lookup.version) {
            return; // an answer from a catalog already replaced
        }
        let size = cost(&lookup.key, &answer);
        if size > MAX_BYTES {
            return;
        }
        if let Some(old) = state.answers.remove(&lookup.key) {
            state.bytes = state.bytes.saturating_sub(cost(&lookup.key, &old));
        }
        if state.bytes + size > MAX_BYTES {
            // Simple and bounded: start over (a full cache means many
            // distinct request shapes, which a smarter policy would not
            // serve much better).
            state.reset();
        }
        state.bytes += size;
        state.answers.insert(lookup.key, answer);
    }
}

/// Deserialises any JSON, refusing an object that repeats a key anywhere
/// (serde_json's maps keep the last; rmcp's typed messages refuse some).
struct NoRepeatedKeys;

impl<'de> serde::Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = NoRepeatedKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoRepeatedKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoRepeatedKeys>()?.is_some() {}
                Ok(NoRepeatedKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if !seen.insert(key.into_owned()) {
                        return Err(serde::de::Error::custom("repeated key"));
                    }
                    map.next_value::<NoRepeatedKeys>()?;
                }
                Ok(NoRepeatedKeys)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Whether `response` is a `200` JSON answer whose body has a known size
/// that fits [`MAX_ANSWER_BYTES`] (so it may be read back whole).
fn plain_json(response: &Response) -> bool {
    response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"))
        && response
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n <= MAX_ANSWER_BYTES as u64)
}

/// Where the `tools/list` handler leaves a stateless HTTP request's page of
/// tools, already JSON: rmcp answers with an empty page (having checked the
/// request and built the answer's envelope, headers and `nextCursor`), and
/// [`ToolsSlot::splice`] puts the tools in. Per 1,000-tool page this saves
/// rmcp cloning and serialising every definition; the definitions were
/// serialised once, when the catalog changed.
#[derive(Clone, Default)]
pub struct ToolsSlot(std::sync::Arc<Mutex<Option<Bytes>>>);

/// What rmcp's JSON answer to an emptied `tools/list` holds exactly once
/// (the result's `tools`; JSON escapes every `"` inside a string, so this
/// cannot occur inside the id or a cursor).
const EMPTY_TOOLS: &[u8] = br#""tools":[]"#;

impl ToolsSlot {
    /// Whether `message` (the body of a `POST /mcp`) gets a slot: a
    /// `tools/list` outside a 2025-era session (whose answers may stream).
    pub fn wanted(parts: &Parts, message: &Value) -> bool {
        !parts.headers.contains_key("mcp-session-id")
            && message.get("method").and_then(Value::as_str) == Some("tools/list")
    }

    /// The handler's page, as a JSON array.
    pub fn fill(&self, tools: Bytes) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(tools);
        }
    }

    fn take(&self) -> Option<Bytes> {
        self.0.lock().ok()?.take()
    }

    /// rmcp's answer with the handler's page put in (or as it is, when
    /// the handler left none: rmcp refused the request). `None` when the
    /// answer is not the plain JSON result a page can be put into; the
    /// request must then be answered without a slot. The page's bytes are
    /// sent as they are, not copied.
    pub async fn splice(&self, response: Response) -> Option<Response> {
        let Some(tools) = self.take() else {
            return Some(response);
        };
        if !plain_json(&response) {
            return None;
        }
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await.ok()?;
        let mut found = bytes
            .windows(EMPTY_TOOLS.len())
            .enumerate()
            .filter(|(_, w)| *w == EMPTY_TOOLS)
            .map(|(i, _)| i);
        let (Some(at), None) = (found.next(), found.next()) else {
            return None;
        };
        let open = at + EMPTY_TOOLS.len() - 2; // the `[]`
        let body = Chunks::new(vec![bytes.slice(..open), tools, bytes.slice(open + 2..)]);
        parts.headers.remove(header::CONTENT_LENGTH);
        metrics::counter!("vieagent_tools_list_pages_total", "from" => "serialised").increment(1);
        Some(Response::from_parts(parts, axum::body::Body::new(body)))
    }
}

/// A body made of byte chunks sent one after another, its length known
/// (so it goes out with a `content-length`, and may be kept).
struct Chunks {
    chunks: std::collections::VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new(chunks: Vec<Bytes>) -> Self {
        let chunks: std::collections::VecDeque<Bytes> =
            chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, remaining }
    }
}

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        std::task::Poll::Ready(next.map(|chunk| Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// A body's data chunks as they are (not joined into one copy), or `None`
/// past `limit` bytes or on an error.
async fn chunks_of(body: axum::body::Body, limit: usize) -> Option<Vec<Bytes>> {
    use http_body_util::BodyExt;
    let mut body = body;
    let (mut chunks, mut size) = (Vec::new(), 0usize);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            size += data.len();
            if size > limit {
                return None;
            }
            chunks.push(data);
        }
    }
    Some(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::post("/mcp");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    /// `lookup_key` as the server calls it: with the message parsed.
    fn lookup(parts: &Parts, body: &[u8], version: u64, shared: bool) -> Option<Lookup> {
        let message: Value = serde_json::from_slice(body).expect("JSON");
        ListCache::lookup_key(parts, &message, body, version, shared)
    }

    fn body(id: Value, cursor: Option<&str>) -> Vec<u8> {
        let mut message = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        if let Some(c) = cursor {
            message["params"]["cursor"] = c.into();
        }
        serde_json::to_vec(&message).expect("json")
    }

    const STATELESS: &[(&str, &str)] = &[
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
    ];

    fn answer(id: &str, result: &str) -> Response {
        let mut response =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        response
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn only_stateless_tools_list_of_a_shared_catalog_is_cacheable() {
        let p = parts(STATELESS);
        assert!(lookup(&p, &body(1.into(), None), 1, true).is_some());
        assert!(
            lookup(&p, &body(1.into(), None), 1, false).is_none(),
            "priced"
        );
        let session = parts(&[
            ("mcp-session-id", "s1"),
            ("mcp-protocol-version", "2025-11-25"),
        ]);
        assert!(lookup(&session, &body(1.into(), None), 1, true).is_none());
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert!(lookup(&p, call, 1, true).is_none());
        let no_id = br#"{"jsonrpc":"2.0","method":"tools/list"}"#;
        assert!(lookup(&p, no_id, 1, true).is_none());
        let huge_id = br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"tools/list"}"#;
        assert!(lookup(&p, huge_id, 1, true).is_none(), "not an i64");
        let repeated = br#"{"jsonrpc":"2.0","id":1,"id":"x","method":"tools/list"}"#;
        assert!(lookup(&p, repeated, 1, true).is_none(), "repeated key");
        let nested = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"a","cursor":"b"}}"#;
        assert!(lookup(&p, nested, 1, true).is_none(), "repeated nested key");
    }

    #[test]
    fn the_key_ignores_ids_and_credentials_but_not_anything_else() {
        let key = |headers: &[(&str, &str)], id: Value, cursor: Option<&str>| {
            lookup(&parts(headers), &body(id, cursor), 1, true)
                .expect("cacheable")
                .key
        };
        let base = key(STATELESS, 1.into(), None);
        let mut with_auth = STATELESS.to_vec();
        with_auth.push(("authorization", "Bearer other-user"));
        with_auth.push(("x-request-id", "r-2"));
        with_auth.push(("user-agent", "another client"));
        assert_eq!(key(&with_auth, "two".into(), None), base);
        let mut twice = STATELESS.to_vec();
        twice.push(("mcp-protocol-version", "2099-01-01"));
        let mut twice_swapped = STATELESS[..1].to_vec();
        twice_swapped.push(("mcp-protocol-version", "2099-01-01"));
        twice_swapped.push(("mcp-protocol-version", "2026-07-28"));
        assert_ne!(
            key(&twice, 1.into(), None),
            key(&twice_swapped, 1.into(), None),
            "the order of a header's values"
        );
        assert_ne!(key(STATELESS, 1.into(), Some("1000")), base, "cursor");
        assert_ne!(
            key(
                &[
                    ("accept", "text/event-stream"),
                    ("mcp-protocol-version", "2026-07-28")
                ],
                1.into(),
                None
            ),
            base,
            "accept"
        );
        assert_ne!(
            key(&STATELESS[..1], 1.into(), None),
            base,
            "protocol header"
        );
    }

    #[tokio::test]
    async fn a_kept_answer_is_replayed_with_the_new_id_until_the_catalog_changes() {
        let cache = ListCache::default();
        let p = parts(STATELESS);
        let first = lookup(&p, &body(1.into(), None), 7, true).expect("key");
        assert!(cache.get(&first).is_none());
        let passed = cache.keep(first, 7, answer("1", r#"{"tools":[]}"#)).await;
        assert_eq!(
            text(passed).await,
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#
        );

        let again = lookup(&p, &body("abc".into(), None), 7, true).expect("key");
        let hit = cache.get(&again).expect("kept");
        assert_eq!(
            hit.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        assert_eq!(
            text(hit).await,
            r#"{"jsonrpc":"2.0","id":"abc","result":{"tools":[]}}"#
        );

        // A new catalog version: the old answer is not used, and an answer
        // computed from the old catalog cannot overwrite newer ones.
        let newer = lookup(&p, &body(2.into(), None), 8, true).expect("key");
        assert!(cache.get(&newer).is_none());
        let _ = cache.keep(newer, 8, answer("2", r#"{"tools":[1]}"#)).await;
        let stale = lookup(&p, &body(3.into(), None), 7, true).expect("key");
        let _ = cache.keep(stale, 7, answer("3", r#"{"tools":[]}"#)).await;
        let latest = lookup(&p, &body(4.into(), None), 8, true).expect("key");
        assert_eq!(
            text(cache.get(&latest).expect("kept")).await,
            r#"{"jsonrpc":"2.0","id":4,"result":{"tools":[1]}}"#
        );
    }

    #[tokio::test]
    async fn a_page_put_in_goes_out_and_is_kept_without_being_copied() {
        let page = Bytes::from_static(br#"[{"name":"a"},{"name":"b"}]"#);
        let slot = ToolsSlot::default();
        slot.fill(page.clone());
        let spliced = slot
            .splice(answer("1", r#"{"tools":[],"nextCursor":"2"}"#))
            .await
            .expect("spliced");
        assert_eq!(
            spliced.body().size_hint().exact(),
            Some(88),
            "the length is known"
        );

        let cache = ListCache::default();
        let p = parts(STATELESS);
        let first = lookup(&p, &body(1.into(), None), 1, true).expect("key");
        let passed = cache.keep(first, 1, spliced).await;
        let expected = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"2"}}"#;
        assert_eq!(text(passed).await, expected);

        let again = lookup(&p, &body(2.into(), None), 1, true).expect("key");
        let shared = {
            let state = cache.state.lock().expect("lock");
            let kept = state.answers.values().next().expect("kept");
            kept.rest.iter().any(|c| c.as_ptr() == page.as_ptr())
        };
        assert!(shared, "the kept answer shares the page's bytes");
        assert_eq!(
            text(cache.get(&again).expect("hit")).await,
            expected.replace(r#""id":1"#, r#""id":2"#)
        );
        // No slot filled (rmcp refused the request): the answer as it is.
        let untouched = ToolsSlot::default()
            .splice(answer("3", r#"{"tools":[]}"#))
            .await
            .expect("as it is");
        assert_eq!(
            text(untouched).await,
            r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#
        );
    }

    #[tokio::test]
    async fn errors_and_answers_from_a_changed_catalog_are_not_kept() {
        let cache = ListCache::default();
        let p = parts(STATELESS);
        let key = || lookup(&p, &body(1.into(), None), 1, true).expect("key");
        let error = answer("1", "null").into_parts();
        let mut refused = Response::from_parts(error.0, axum::body::Body::from("{}"));
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        let _ = cache.keep(key(), 1, refused).await;
        assert!(cache.get(&key()).is_none(), "a refusal");
        let rpc_error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602}}"#.to_string();
        let mut rpc_error = rpc_error.into_response();
        rpc_error.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        let _ = cache.keep(key(), 1, rpc_error).await;
        assert!(cache.get(&key()).is_none(), "a JSON-RPC error");
        let _ = cache.keep(key(), 2, answer("1", "{}")).await;
        assert!(cache.get(&key()).is_none(), "the catalog changed meanwhile");
    }
}
