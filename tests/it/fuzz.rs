//! Property-based fuzz targets (proptest): the schema generator (Flowise
//! chatflow → `input_schema`), the argument validator, and the legacy SSE
//! message handler on a live server. `cargo test` runs a bounded number of
//! cases; `scripts/fuzz.sh` runs each for longer (`PROPTEST_CASES`).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use crate::helpers::{Backend, TestApp, TestDb};

/// A runner for `PROPTEST_CASES` cases, else a CI-sized default. Failures
/// are printed shrunk (no regression files: the inputs go in the corpus).
fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Strings that matter to parsers and templates, plus arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{{$vars.x}}".to_string()),
        Just("${process.env.X}".to_string()),
        Just("../../etc".to_string()),
        Just("\u{0}".to_string()),
        Just("formInput".to_string()),
        Just("chatInput".to_string()),
        Just("startAgentflow".to_string()),
        Just("openAIApi".to_string()),
        "[a-zA-Z_]{1,12}",
        any::<String>(),
    ]
}

/// Arbitrary JSON, `depth` levels deep at most.
fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Something shaped like a Flowise node, with arbitrary parts.
fn node() -> impl Strategy<Value = Value> {
    (
        text(),
        text(),
        prop::option::of(text()),
        prop::collection::vec((text(), json_value(3)), 0..5),
        json_value(3),
    )
        .prop_map(|(name, label, start_type, inputs, params)| {
            let mut inputs: Map<String, Value> = inputs.into_iter().collect();
            if let Some(t) = start_type {
                inputs.insert("startInputType".into(), Value::String(t));
            }
            inputs.insert(
                "formInputTypes".into(),
                json!([{"type": "string", "label": label, "name": name}, {"type": params, "name": 5}]),
            );
            json!({"id": name, "data": {"name": name, "label": label, "inputs": inputs,
                   "inputParams": [{"name": "credential", "credentialNames": [label]}],
                   "credential": params}})
        })
}

fn chatflow() -> impl Strategy<Value = Value> {
    (
        text(),
        prop_oneof![Just("CHATFLOW"), Just("AGENTFLOW"), Just("MULTIAGENT"), Just("")],
        prop::collection::vec(node(), 0..6),
        prop_oneof![
            Just(Value::Null),
            json_value(4),
            json_value(4).prop_map(|v| Value::String(v.to_string())),
            (any::<bool>(), prop::collection::vec(text(), 0..4)).prop_map(|(on, vars)| json!({
                "overrideConfig": {"status": on,
                    "variables": vars.iter().map(|v| json!({"name": v, "enabled": true})).collect::<Vec<_>>(),
                    "nodes": {"x": [{"name": "openAIApiKey", "enabled": on}]}}
            }).to_string().into()),
        ],
        prop::collection::vec(text(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(name, kind, nodes, api_config, vars, garbage_flow)| {
            let mut flow_data = json!({"nodes": nodes, "edges": []}).to_string();
            for v in vars {
                flow_data.push_str(&format!(" {{{{$vars.{v}}}}} "));
            }
            if garbage_flow {
                let mut cut = flow_data.len() / 2;
                while !flow_data.is_char_boundary(cut) {
                    cut -= 1;
                }
                flow_data.truncate(cut);
            }
            json!({"id": "f", "name": name, "type": kind, "flowData": flow_data, "apiConfig": api_config})
        })
}

/// Schema generator: never panics; what it generates is an object schema
/// that compiles, and its generated validator accepts what it should.
#[test]
fn fuzz_schema_generator() {
    vieagent::install_crypto_provider();
    let engine = vieagent::engines::flowise::FlowiseEngine::new(&vieagent::config::FlowiseConfig {
        base_url: Some("http://127.0.0.1:9".parse().expect("url")),
        ..Default::default()
    })
    .expect("engine");
    let mut runner = runner(256);
    runner
        .run(&chatflow(), |raw| {
            if let Ok(description) = engine.describe_chatflow(&raw) {
                let schema = description.input_schema.expect("a schema");
                prop_assert_eq!(schema["type"].as_str(), Some("object"), "{}", schema);
                let compiled = vieagent::catalog::compile(&schema);
                prop_assert!(compiled.is_ok(), "{:?} for {}", compiled.err(), schema);
                let mut errors = Vec::new();
                vieagent::agents::check_input_schema(&schema, &mut errors);
                prop_assert!(errors.is_empty(), "{:?}", errors);
            }
            Ok(())
        })
        .expect("schema generator property");
}

/// Small JSON Schemas built from the keywords agents use.
fn schema() -> impl Strategy<Value = Value> {
    let property = prop_oneof![
        Just(json!({"type": "string"})),
        (0u32..20).prop_map(|n| json!({"type": "string", "maxLength": n})),
        Just(json!({"type": "string", "pattern": "^[a-z]+$"})),
        Just(json!({"type": "string", "format": "email"})),
        (-5i64..5, 5i64..50)
            .prop_map(|(lo, hi)| json!({"type": "integer", "minimum": lo, "maximum": hi})),
        Just(json!({"type": "number"})),
        Just(json!({"type": "boolean"})),
        prop::collection::vec(text(), 1..4).prop_map(|e| json!({"enum": e})),
        Just(json!({"type": "array", "items": {"type": "string"}, "maxItems": 3})),
        Just(
            json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
        ),
    ];
    (
        prop::collection::vec(("[a-z]{1,6}", property), 0..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(props, strict, require_first)| {
            let required: Vec<&String> = props.iter().take(usize::from(require_first)).map(|(k, _)| k).collect();
            let properties: Map<String, Value> = props.iter().cloned().collect();
            json!({"type": "object", "properties": properties, "required": required, "additionalProperties": !strict})
        })
}

/// Argument validator: never panics; errors exactly when the schema says
/// the arguments are invalid, each naming a field or the arguments.
#[test]
fn fuzz_argument_validator() {
    let mut runner = runner(512);
    runner
        .run(&(schema(), json_value(5)), |(schema, arguments)| {
            let validator = vieagent::catalog::compile(&schema).expect("compiles");
            let arguments = match arguments {
                Value::Object(_) => arguments,
                other => json!({"a": other}),
            };
            let errors =
                vieagent::calls::validate::validation_errors(&validator, &schema, &arguments);
            prop_assert_eq!(
                errors.is_empty(),
                validator.is_valid(&arguments),
                "{:?}",
                errors
            );
            for e in &errors {
                prop_assert!(!e.trim().is_empty());
                prop_assert!(e.len() < 4096, "bounded message: {}", e.len());
            }
            Ok(())
        })
        .expect("validator property");
}

/// Bytes a client might send as one message: valid messages, mutated ones
/// and noise.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    let valid = || {
        (
            json_value(3),
            prop_oneof![
                Just("ping"),
                Just("tools/list"),
                Just("tools/call"),
                Just("x")
            ],
        )
            .prop_map(|(params, method)| {
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                    .to_string()
                    .into_bytes()
            })
    };
    prop_oneof![
        valid(),
        (valid(), any::<prop::sample::Index>()).prop_map(|(b, i)| {
            let cut = i.index(b.len().max(1)).min(b.len());
            b[..cut].to_vec()
        }),
        (valid(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut b, i, byte)| {
            if !b.is_empty() {
                let at = i.index(b.len());
                b[at] = byte;
            }
            b
        }),
        json_value(4).prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// The legacy SSE message handler on a live server: every body gets 202
/// (then a reply on the stream) or a 4xx that says why, and the session
/// keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_sse_message_handler() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, key) = app.user_with_key("fuzz@example.com").await;
    let base = app.url("");
    let _db: &TestDb = &app.db;
    let (client, _) = crate::mcp_client::connect_sse(&base, &key).await;
    // A second, raw connection to post arbitrary bodies into a session.
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}/sse"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET /sse");
    let mut stream = futures::StreamExt::boxed(sse_stream::SseStream::from_bytes_stream(
        response.bytes_stream(),
    ));
    let endpoint = loop {
        let event = futures::StreamExt::next(&mut stream)
            .await
            .expect("event")
            .expect("sse");
        if event.event.as_deref() == Some("endpoint") {
            break format!("{base}{}", event.data.unwrap_or_default());
        }
    };
    let handle = tokio::runtime::Handle::current();
    let mut runner = runner(128);
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&message_bytes(), |body| {
            let (status, text) = handle.block_on(async {
                let r = http
                    .post(&endpoint)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .expect("POST /messages");
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            });
            prop_assert!(
                status == 202 || (400..500).contains(&status),
                "HTTP {} for {:?}: {}",
                status,
                String::from_utf8_lossy(&body),
                text
            );
            if status != 202 {
                prop_assert!(!text.trim().is_empty(), "a 4xx says why");
            }
            Ok(())
        })
    });
    outcome.expect("SSE handler property");
    // The server and an ordinary session are fine afterwards.
    client
        .list_tools(None)
        .await
        .expect("the session still answers");
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    drop(stream);
}
