//! JSON-RPC envelope checks in front of every MCP transport.
//!
//! rmcp rejects a message it cannot decode with little to go on (HTTP 415
//! "fail to deserialize", or an id-less "Invalid request" on stdio, or
//! nothing at all for a batch). Each transport runs [`check`] first, so a
//! client learns exactly what is wrong, as a JSON-RPC error: -32700 for
//! text that is not JSON, -32600 for a message that is not a JSON-RPC 2.0
//! request, notification or response, -32602 for `params` of the wrong
//! shape. Messages that pass go to rmcp untouched. Errors name fields and
//! rules, never echo the client's content.

use serde_json::{Value, json};

/// Longest method name accepted (MCP's are short; this only bounds abuse).
const MAX_METHOD_LEN: usize = 128;

/// Why a message was refused, as a JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The request's id when it had a usable one, else `null`.
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl Rejection {
    fn new(id: Value, code: i64, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error response.
    pub fn to_json(&self) -> Value {
        json!({"jsonrpc": "2.0", "id": self.id, "error": {"code": self.code, "message": self.message}})
    }
}

/// Check one message's envelope.
pub fn check(body: &[u8]) -> Result<(), Rejection> {
    parse_checked(body).map(|_| ())
}

/// [`check`], keeping the parsed message for whoever needs to look at it.
pub fn parse_checked(body: &[u8]) -> Result<Value, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let what = if e.to_string().contains("recursion limit") {
            "nested more than 128 levels deep".to_string()
        } else {
            match e.classify() {
                serde_json::error::Category::Eof => "the message ends early".to_string(),
                serde_json::error::Category::Io => "unreadable".to_string(),
                _ => format!("invalid JSON at line {} column {}", e.line(), e.column()),
            }
        };
        Rejection::new(Value::Null, -32700, format!("Parse error: {what}"))
    })?;
    check_value(&value)?;
    Ok(value)
}

/// Read one POSTed message (at most `limit` bytes) and [`check`] it: the
/// one gate of both HTTP transports (`POST /mcp` and the legacy
/// `POST /messages`). Returns the bytes and the parsed message. On refusal
/// the response is the whole answer: 413 or 400 with a JSON-RPC error
/// body, counted in `vieagent_mcp_rejected_messages_total`.
pub async fn read_checked(
    body: axum::body::Body,
    limit: usize,
    transport: &'static str,
) -> Result<(bytes::Bytes, Value), axum::response::Response> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let refuse = |status: StatusCode, rejection: Rejection| {
        metrics::counter!("vieagent_mcp_rejected_messages_total", "transport" => transport)
            .increment(1);
        (status, axum::Json(rejection.to_json())).into_response()
    };
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // This limit's error, or the every-route limit's from further out
        // (wrapped in the body's own error type): look down the chain.
        let inner = e.into_inner();
        let too_large = std::iter::successors(
            Some(inner.as_ref() as &(dyn std::error::Error + 'static)),
            |err| err.source(),
        )
        .any(|err| err.is::<http_body_util::LengthLimitError>());
        if too_large {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                Rejection::new(
                    Value::Null,
                    -32600,
                    format!("Invalid Request: the message is larger than {limit} bytes"),
                ),
            )
        } else {
            // The body broke off (the client went away, or a limit outside
            // this one tripped): not a malformed message.
            (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
                .into_response()
        }
    })?;
    let message =
        parse_checked(&bytes).map_err(|rejection| refuse(StatusCode::BAD_REQUEST, rejection))?;
    Ok((bytes, message))
}

/// Check an already-parsed message.
pub fn check_value(value: &Value) -> Result<(), Rejection> {
    let invalid = |id: &Value, message: &str| {
        Rejection::new(id.clone(), -32600, format!("Invalid Request: {message}"))
    };
    let message = match value {
        Value::Object(m) => m,
        Value::Array(a) if a.is_empty() => {
            return Err(invalid(&Value::Null, "an empty batch"));
        }
        Value::Array(_) => {
            return Err(invalid(
                &Value::Null,
                "JSON-RPC batches are not supported (MCP removed them in 2025-06-18); \
                 send one message at a time",
            ));
        }
        _ => return Err(invalid(&Value::Null, "a JSON-RPC message is a JSON object")),
    };
    // Echo the id only if it is one a client could match.
    let id = match message.get("id") {
        Some(id @ Value::String(_)) => id.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        _ => Value::Null,
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(&id, "\"jsonrpc\" must be the string \"2.0\""));
    }
    if let Some(raw) = message.get("id")
        && id.is_null()
    {
        let kind = match raw {
            Value::Null => "null",
            Value::Number(_) => "a fractional or out-of-range number",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
            Value::String(_) => "a string",
        };
        return Err(invalid(
            &Value::Null,
            &format!("\"id\" must be a string or an integer, not {kind}"),
        ));
    }
    match message.get("method") {
        Some(Value::String(method)) => {
            if method.is_empty() || method.len() > MAX_METHOD_LEN {
                return Err(invalid(
                    &id,
                    &format!("\"method\" must be 1 to {MAX_METHOD_LEN} characters"),
                ));
            }
            if method.chars().any(char::is_control) {
                return Err(invalid(
                    &id,
                    "\"method\" must not contain control characters",
                ));
            }
            check_params(&id, method, message.get("params"))
        }
        Some(_) => Err(invalid(&id, "\"method\" must be a string")),
        None => {
            let is_response = message.contains_key("result") || message.contains_key("error");
            if !is_response {
                Err(invalid(
                    &id,
                    "a message needs a \"method\" (request or notification) or a \"result\"/\"error\" (response)",
                ))
            } else if !message.contains_key("id") {
                Err(invalid(&id, "a response needs the \"id\" of its request"))
            } else {
                Ok(())
            }
        }
    }
}

fn check_params(id: &Value, method: &str, params: Option<&Value>) -> Result<(), Rejection> {
    let bad =
        |message: String| Rejection::new(id.clone(), -32602, format!("Invalid params: {message}"));
    match params {
        None | Some(Value::Object(_)) => {}
        Some(Value::Null) if method != "tools/call" => {}
        Some(_) => return Err(bad(format!("\"params\" of {method} must be an object"))),
    }
    if let Some(Value::Object(p)) = params
        && let Some(cursor) = p.get("cursor")
        && !matches!(cursor, Value::String(_) | Value::Null)
    {
        return Err(bad(format!(
            "\"params.cursor\" of {method} must be a string (a nextCursor you were given)"
        )));
    }
    if method == "tools/call" {
        let Some(Value::Object(p)) = params else {
            return Err(bad(
                "tools/call needs \"params\": {\"name\": <tool name>, \"arguments\": {…}}".into(),
            ));
        };
        match p.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {}
            _ => {
                return Err(bad(
                    "tools/call needs \"params.name\", the tool's name (a string)".into(),
                ));
            }
        }
        match p.get("arguments") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(bad(
                    "\"params.arguments\" of tools/call must be an object (the tool's arguments by name)"
                        .into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<(i64, String, Value)> {
        check(body.as_bytes())
            .err()
            .map(|r| (r.code, r.message, r.id))
    }

    #[test]
    fn valid_messages_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"x":1}}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}"#,
        ] {
            assert_eq!(check(body.as_bytes()), Ok(()), "{body}");
        }
    }

    #[test]
    fn each_fault_gets_its_code_and_reason() {
        let cases: &[(&str, i64, &str, Value)] = &[
            ("{", -32700, "ends early", Value::Null),
            ("nope", -32700, "line 1 column", Value::Null),
            ("[]", -32600, "empty batch", Value::Null),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                -32600,
                "batches",
                Value::Null,
            ),
            ("null", -32600, "JSON object", Value::Null),
            (
                r#"{"jsonrpc":"1.0","id":2,"method":"ping"}"#,
                -32600,
                "\"2.0\"",
                json!(2),
            ),
            (r#"{"id":2,"method":"ping"}"#, -32600, "\"2.0\"", json!(2)),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                -32600,
                "not null",
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                -32600,
                "fractional",
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                -32600,
                "an object",
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                -32600,
                "must be a string",
                json!(1),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":""}"#,
                -32600,
                "1 to 128",
                json!(1),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"a\u0000b"}"#,
                -32600,
                "control",
                json!(1),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1}"#,
                -32600,
                "needs a \"method\"",
                json!(1),
            ),
            (
                r#"{"jsonrpc":"2.0","result":{}}"#,
                -32600,
                "\"id\" of its request",
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":[1]}"#,
                -32602,
                "must be an object",
                json!("x"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#,
                -32602,
                "needs \"params\"",
                json!(4),
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#,
                -32602,
                "params.name",
                json!(4),
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":3}}"#,
                -32602,
                "params.name",
                json!(4),
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t","arguments":"x"}}"#,
                -32602,
                "arguments",
                json!(4),
            ),
        ];
        for (body, want_code, fragment, want_id) in cases {
            let (code, message, id) = code(body).unwrap_or_else(|| panic!("{body} passed"));
            assert_eq!(code, *want_code, "{body}: {message}");
            assert!(message.contains(fragment), "{body}: {message}");
            assert_eq!(&id, want_id, "{body}");
        }
    }

    #[test]
    fn cursors_must_be_strings() {
        let r = check(br#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"cursor":5}}"#)
            .expect_err("refused");
        assert_eq!((r.code, r.id), (-32602, json!(4)));
        assert!(r.message.contains("cursor"), "{}", r.message);
    }

    #[test]
    fn deep_nesting_and_bad_utf8_are_parse_errors() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let (code, message, _) = super::check(deep.as_bytes())
            .err()
            .map(|r| (r.code, r.message, r.id))
            .expect("refused");
        assert_eq!(code, -32700);
        assert!(message.contains("128 levels"), "{message}");
        let bad = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}";
        assert_eq!(super::check(bad).expect_err("refused").code, -32700);
    }

    #[test]
    fn errors_never_echo_content() {
        let secret = "sk-should-not-echo";
        for body in [
            format!(r#"{{"jsonrpc":"1.0","id":1,"method":"{secret}"}}"#),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{secret}","arguments":"{secret}"}}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{secret}"#),
        ] {
            let r = super::check(body.as_bytes()).expect_err("refused");
            assert!(!r.to_json().to_string().contains(secret), "{}", r.to_json());
        }
    }
}
