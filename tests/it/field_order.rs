//! The author's order of an agent's input fields, end to end on both stores:
//! an agent defined through the admin API (a JSON body) and one through a
//! manifest (YAML), then changed through the admin API, list their fields
//! in the author's order in MCP `tools/list` and in `/v1/tools` (OpenAI,
//! Anthropic and MCP shapes). PostgreSQL keeps `input_schema` as `jsonb`,
//! which sorts keys by length; the names below are chosen so that neither
//! that order nor the alphabetical one is the author's.
//!
//! Orders are read from the JSON as received (`serde_json` keeps key order
//! here), key by key: `==` on JSON values does not look at order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, run_cli_with, text};
use crate::mcp_client::{Protocol, connect_http};

const ADMIN_TOKEN: &str = "field-order-admin-token-5e1b";

/// A form whose every `properties` map is in neither `jsonb`'s order (by
/// length, then bytes) nor alphabetical order: the root, an array's items,
/// a nested object and a `$defs` entry.
pub(crate) fn trip_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "trip_title": {"type": "string", "title": "Trip"},
            "cabin": {"type": "string", "enum": ["economy", "business"]},
            "legs": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "from": {"type": "string"},
                    "date": {"type": "string"}
                },
                "required": ["to", "from"]
            }},
            "contact": {"type": "object", "properties": {
                "phone": {"type": "string"},
                "email": {"type": "string"}
            }},
            "customer": {"$ref": "#/$defs/customer"}
        },
        "$defs": {"customer": {"type": "object", "properties": {
            "surname": {"type": "string"},
            "given": {"type": "string"}
        }}},
        "required": ["trip_title", "legs"],
        "additionalProperties": false
    })
}

/// [`trip_schema`]'s fields in other orders (a change that only moves fields).
pub(crate) fn trip_schema_moved() -> Value {
    json!({
        "type": "object",
        "properties": {
            "customer": {"$ref": "#/$defs/customer"},
            "legs": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "date": {"type": "string"},
                    "to": {"type": "string"},
                    "from": {"type": "string"}
                },
                "required": ["to", "from"]
            }},
            "trip_title": {"type": "string", "title": "Trip"},
            "contact": {"type": "object", "properties": {
                "email": {"type": "string"},
                "phone": {"type": "string"}
            }},
            "cabin": {"type": "string", "enum": ["economy", "business"]}
        },
        "$defs": {"customer": {"type": "object", "properties": {
            "given": {"type": "string"},
            "surname": {"type": "string"}
        }}},
        "required": ["trip_title", "legs"],
        "additionalProperties": false
    })
}

/// [`trip_schema`] as a manifest author writes it.
const TRIP_YAML: &str = r##"name: Trip (manifest)
tool_name: trip_yaml
description: Books a trip
engine: flowise
flow_id: builtin-demo-echo
engine_config: {builtin: demo}
credits_per_call: 0
status: published
input_schema:
  type: object
  properties:
    trip_title: {type: string, title: Trip}
    cabin: {type: string, enum: [economy, business]}
    legs:
      type: array
      items:
        type: object
        properties:
          to: {type: string}
          from: {type: string}
          date: {type: string}
        required: [to, from]
    contact:
      type: object
      properties:
        phone: {type: string}
        email: {type: string}
    customer: {$ref: "#/$defs/customer"}
  $defs:
    customer:
      type: object
      properties:
        surname: {type: string}
        given: {type: string}
  required: [trip_title, legs]
  additionalProperties: false
"##;

/// [`trip_schema_moved`] as a manifest author writes it.
const TRIP_YAML_MOVED: &str = r##"name: Trip (manifest)
tool_name: trip_yaml
description: Books a trip
engine: flowise
flow_id: builtin-demo-echo
engine_config: {builtin: demo}
credits_per_call: 0
status: published
input_schema:
  type: object
  properties:
    customer: {$ref: "#/$defs/customer"}
    legs:
      type: array
      items:
        type: object
        properties:
          date: {type: string}
          to: {type: string}
          from: {type: string}
        required: [to, from]
    trip_title: {type: string, title: Trip}
    contact:
      type: object
      properties:
        email: {type: string}
        phone: {type: string}
    cabin: {type: string, enum: [economy, business]}
  $defs:
    customer:
      type: object
      properties:
        given: {type: string}
        surname: {type: string}
  required: [trip_title, legs]
  additionalProperties: false
"##;

/// Every `properties` map's keys, in the order they come, by the path of
/// the object holding it.
pub(crate) fn field_orders(schema: &Value) -> BTreeMap<String, Vec<String>> {
    fn walk(value: &Value, at: String, out: &mut BTreeMap<String, Vec<String>>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    out.insert(at.clone(), properties.keys().cloned().collect());
                }
                for (key, inner) in map {
                    walk(inner, format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(schema, String::new(), &mut out);
    out
}

/// The orders a test expects of [`trip_schema`], spelled out (so that a
/// helper gone wrong cannot make both sides agree).
pub(crate) fn trip_orders() -> BTreeMap<String, Vec<String>> {
    let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    BTreeMap::from([
        (
            String::new(),
            list(&["trip_title", "cabin", "legs", "contact", "customer"]),
        ),
        (
            "/properties/legs/items".into(),
            list(&["to", "from", "date"]),
        ),
        ("/properties/contact".into(), list(&["phone", "email"])),
        ("/$defs/customer".into(), list(&["surname", "given"])),
    ])
}

pub(crate) fn moved_orders() -> BTreeMap<String, Vec<String>> {
    let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    BTreeMap::from([
        (
            String::new(),
            list(&["customer", "legs", "trip_title", "contact", "cabin"]),
        ),
        (
            "/properties/legs/items".into(),
            list(&["date", "to", "from"]),
        ),
        ("/properties/contact".into(), list(&["email", "phone"])),
        ("/$defs/customer".into(), list(&["given", "surname"])),
    ])
}

crate::backend_tests!(fields_keep_the_authors_order_on_every_surface);

async fn fields_keep_the_authors_order_on_every_surface(backend: Backend) {
    assert_eq!(field_orders(&trip_schema()), trip_orders());
    assert_eq!(field_orders(&trip_schema_moved()), moved_orders());
    let db = TestDb::new(backend).await;
    let (db_url, master_key) = (db.url.clone(), db.master_key.clone());
    let app = TestApp::spawn_with(db, |c| {
        c.admin_token = Some(secrecy::SecretString::from(ADMIN_TOKEN));
        c.demo = Some(true);
    })
    .await;

    // The admin API, from the JSON text as written (not re-serialised here).
    let body = format!(
        r#"{{"name": "Trip (admin)", "tool_name": "trip_admin", "description": "Books a trip",
            "engine_type": "flowise", "engine_flow_id": "builtin-demo-echo",
            "engine_config": {{"builtin": "demo"}}, "credits_per_call": 0,
            "input_schema": {}}}"#,
        trip_schema()
    );
    let created = admin(&app, reqwest::Method::POST, "/agents", body).await;
    assert_eq!(field_orders(&created["input_schema"]), trip_orders());
    let id = created["id"].as_str().expect("id").to_string();
    admin(
        &app,
        reqwest::Method::POST,
        &format!("/agents/{id}/publish"),
        "{}".into(),
    )
    .await;
    let got = admin(
        &app,
        reqwest::Method::GET,
        &format!("/agents/{id}"),
        String::new(),
    )
    .await;
    assert_eq!(field_orders(&got["input_schema"]), trip_orders());

    // A manifest (YAML → JSON), applied by the CLI beside the server.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("trip.yaml"), TRIP_YAML).expect("manifest");
    let applied = run_cli_with(
        &[
            "agents",
            "apply",
            dir.path().to_str().expect("path"),
            "--no-engine-check",
        ],
        dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db_url.as_str()),
            ("VIEAGENT_MASTER_KEY", master_key.as_str()),
            ("VIEAGENT_LOG_LEVEL", "warn"),
        ],
        None,
    )
    .await;
    assert!(applied.status.success(), "{}", text(&applied.stderr));

    let (_, key) = app.user_with_key("ada@example.com").await;
    let expected = BTreeMap::from([
        ("trip_admin", trip_orders()),
        ("trip_yaml", trip_orders()),
        (
            "demo_echo",
            BTreeMap::from([(String::new(), vec!["message".into(), "delay_ms".into()])]),
        ),
    ]);
    wait_for_tools(&app, &key, |orders| orders == &as_owned(&expected)).await;
    check_every_surface(&app, &key, &expected).await;

    // A tool call's argument errors are listed in the fields' order.
    let (client, _) = connect_http(&format!("http://{}", app.addr), &key, Protocol::Session).await;
    let refused = crate::mcp_client::call(
        &client,
        "trip_admin",
        json!({"contact": {"email": 7}, "legs": [{"date": "x"}], "cabin": "first"}),
    )
    .await;
    let said = crate::mcp_client::text_of(&refused);
    let lines: Vec<usize> = [
        "/trip_title: missing required property",
        "/cabin: must be one of",
        "/legs/0/to: missing required property",
        "/legs/0/from: missing required property",
        "/contact/email: must be of type string",
    ]
    .iter()
    .map(|line| said.find(line).unwrap_or_else(|| panic!("{line}: {said}")))
    .collect();
    assert!(
        lines.windows(2).all(|w| w[0] < w[1]),
        "in field order: {said}"
    );
    client.cancel().await.expect("close");

    // A change that only moves fields is a change, through the admin API
    // and through a manifest.
    let patched = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/agents/{id}"),
        format!(r#"{{"input_schema": {}}}"#, trip_schema_moved()),
    )
    .await;
    assert_eq!(field_orders(&patched["input_schema"]), moved_orders());
    std::fs::write(dir.path().join("trip.yaml"), TRIP_YAML_MOVED).expect("manifest");
    let applied = run_cli_with(
        &[
            "agents",
            "apply",
            dir.path().to_str().expect("path"),
            "--no-engine-check",
        ],
        dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db_url.as_str()),
            ("VIEAGENT_MASTER_KEY", master_key.as_str()),
            ("VIEAGENT_LOG_LEVEL", "warn"),
        ],
        None,
    )
    .await;
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert!(
        text(&applied.stdout).contains("1 updated"),
        "moving fields is a change: {}",
        text(&applied.stdout)
    );
    let mut expected = expected;
    expected.insert("trip_admin", moved_orders());
    expected.insert("trip_yaml", moved_orders());
    wait_for_tools(&app, &key, |orders| orders == &as_owned(&expected)).await;
    check_every_surface(&app, &key, &expected).await;
}

/// An admin API request with `body` sent as it is; the answer, parsed.
async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: String) -> Value {
    let mut request = app
        .http
        .request(method, app.url(&format!("/admin/v1{path}")))
        .bearer_auth(ADMIN_TOKEN);
    if !body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

type Orders = BTreeMap<&'static str, BTreeMap<String, Vec<String>>>;

/// `GET /v1/tools?format=…` as received, parsed from its text.
async fn chat_tools(app: &TestApp, key: &str, format: &str) -> Vec<Value> {
    let response = app
        .http
        .get(app.url(&format!("/v1/tools?format={format}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET /v1/tools");
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    body["tools"].as_array().cloned().expect("tools")
}

/// Each listed tool's field orders, by tool name (`name` and `schema` pick
/// them out of one format's tool object).
fn orders_of(
    tools: &[Value],
    name: impl Fn(&Value) -> &Value,
    schema: impl Fn(&Value) -> &Value,
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    tools
        .iter()
        .map(|t| {
            (
                name(t).as_str().expect("name").to_string(),
                field_orders(schema(t)),
            )
        })
        .collect()
}

fn as_owned(expected: &Orders) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Poll `/v1/tools?format=mcp` until `done` (the catalog reaches the server
/// by its watcher).
async fn wait_for_tools(
    app: &TestApp,
    key: &str,
    done: impl Fn(&BTreeMap<String, BTreeMap<String, Vec<String>>>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tools = chat_tools(app, key, "mcp").await;
        let orders = orders_of(&tools, |t| &t["name"], |t| &t["inputSchema"]);
        if done(&orders) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the tools never came in order: {orders:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check_every_surface(app: &TestApp, key: &str, expected: &Orders) {
    let expected = as_owned(expected);
    let openai = chat_tools(app, key, "openai").await;
    assert_eq!(
        orders_of(
            &openai,
            |t| &t["function"]["name"],
            |t| &t["function"]["parameters"]
        ),
        expected,
        "/v1/tools?format=openai"
    );
    let anthropic = chat_tools(app, key, "anthropic").await;
    assert_eq!(
        orders_of(&anthropic, |t| &t["name"], |t| &t["input_schema"]),
        expected,
        "/v1/tools?format=anthropic"
    );
    let mcp = chat_tools(app, key, "mcp").await;
    assert_eq!(
        orders_of(&mcp, |t| &t["name"], |t| &t["inputSchema"]),
        expected,
        "/v1/tools?format=mcp"
    );
    // MCP tools/list, as rmcp's client receives it.
    let (client, _) = connect_http(&format!("http://{}", app.addr), key, Protocol::Session).await;
    let listed = client.list_tools(None).await.expect("tools/list");
    assert!(listed.next_cursor.is_none(), "one page");
    let orders: BTreeMap<String, BTreeMap<String, Vec<String>>> = listed
        .tools
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                field_orders(&Value::Object(t.input_schema.as_ref().clone())),
            )
        })
        .collect();
    assert_eq!(orders, expected, "MCP tools/list");
    client.cancel().await.expect("close");

    // The Easy Mode form: its fields come in the same order.
    let mut web = crate::web::Browserless::new(&format!("http://{}", app.addr));
    web.sign_in(key).await;
    for tool in ["trip_admin", "trip_yaml"] {
        let page = web.get(&format!("/app/tools/{tool}")).await;
        // A field's controls are named by its pointer (an object's and an
        // array's by their children's and row count's).
        let at = |pointer: &str| {
            page.body
                .find(&format!("name=\"{pointer}"))
                .unwrap_or_else(|| panic!("{tool} {pointer}: {}", page.body))
        };
        for (object, keys) in &expected[tool] {
            // Form pointers: the root's fields, and the first leg's.
            let prefix = match object.as_str() {
                "" => "",
                "/properties/legs/items" => "/legs/0",
                _ => continue,
            };
            let positions: Vec<usize> = keys.iter().map(|k| at(&format!("{prefix}/{k}"))).collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{tool} form {object}: {keys:?} at {positions:?}"
            );
        }
    }
}
