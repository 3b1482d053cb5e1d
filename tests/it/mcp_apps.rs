//! MCP Apps (`io.modelcontextprotocol/ui`): each agent's Easy Mode form and
//! result inside the assistant.
//!
//! * Negotiation over raw HTTP, both protocol generations: a client that
//!   does not declare the extension gets byte for byte the `tools/list` a
//!   server with `mcp.apps = false` gives; one that declares it gets
//!   `_meta.ui.resourceUri` on every tool, the apps in `resources/list`, and
//!   each app from `resources/read`.
//! * A real host in headless Chromium: `tests/apps/host.html`, built from
//!   the official `@modelcontextprotocol/ext-apps` AppBridge and the
//!   official TypeScript MCP client (`npm ci --prefix tests/apps && npm run
//!   build --prefix tests/apps`; `.ci/run` does), connected to the real
//!   server. The app shows the model's arguments as the form, offers the
//!   connect link when the key is missing, marks a field the server refused,
//!   runs again through the host and shows the result as text; the
//!   browser's DevTools network log shows no request from the app's frame.
//!   With `VIEAGENT_UPDATE_SCREENSHOTS=1` it rewrites the README's
//!   screenshots (light and dark, Vietnamese and English).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use vieagent::web::form::field_id;

use crate::browser::{Driver, chromedriver, screenshot};
use crate::helpers::{Backend, TestApp, TestDb};
use crate::web::trip_agent;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// Flowise answering the trip agent's form (slowly for "Sa Pa", so a run
/// is seen under way), recording each prediction's body.
async fn trip_flowise() -> (MockServer, Seen) {
    let server = MockServer::start().await;
    let seen: Seen = Seen::default();
    let record = seen.clone();
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/[A-Za-z0-9_-]+$"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            record.lock().expect("lock").push(body.clone());
            let form = &body["form"];
            let destination = form["destination"].as_str().unwrap_or("?");
            let answer = ResponseTemplate::new(200).set_body_json(json!({
                "text": format!(
                    "<b>Trip</b> to {destination} by {} for {} ({} stops)",
                    form["mode"].as_str().unwrap_or("?"),
                    form["traveler"]["name"].as_str().unwrap_or("?"),
                    form["stops"].as_array().map_or(0, Vec::len),
                ),
                "executionId": "exec-apps-1",
            }));
            if destination == "Sa Pa" {
                // Slow, and echoing everything it was sent, the user's key
                // included: the gateway scrubs it before any client sees it.
                ResponseTemplate::new(200)
                    .set_body_json(
                        json!({"text": format!("Sa Pa: {body}"), "executionId": "exec-apps-2"}),
                    )
                    .set_delay(Duration::from_secs(4))
            } else {
                answer
            }
        })
        .mount(&server)
        .await;
    (server, seen)
}

/// An agent with a date-time and a time: their zones travel with them.
fn event_agent() -> vieagent::store::NewAgent {
    let mut agent = trip_agent();
    agent.name = "Event planner".into();
    agent.tool_name = "event_planner".into();
    agent.required_credential_types = Vec::new();
    agent.input_schema = json!({"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time", "title": "When"},
        "at": {"type": "string", "format": "time", "title": "Daily at"},
        "contact_phone": {"type": "string", "title": "Phone"}
    }, "required": ["when"]});
    agent
}

/// A priced agent (bought at the marketplace).
fn priced_agent() -> vieagent::store::NewAgent {
    let mut agent = crate::helpers::sample_agent("pro_writer");
    agent.name = "Pro writer".into();
    agent.price_one_time = Some("50000".parse().expect("price"));
    agent.status = vieagent::store::AgentStatus::Published;
    agent
}

const UI: &str = "io.modelcontextprotocol/ui";
const MIME: &str = "text/html;profile=mcp-app";

fn ui_capabilities() -> Value {
    json!({"extensions": {UI: {"mimeTypes": [MIME]}}})
}

/// One JSON-RPC exchange over streamable HTTP: the HTTP status and the
/// message's bytes (the `data:` of an SSE answer, or the JSON body).
async fn post(
    app: &TestApp,
    key: &str,
    session: Option<&str>,
    protocol: &str,
    body: &Value,
) -> (u16, Option<String>, String) {
    let mut request = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", protocol)
        .header("mcp-method", body["method"].as_str().unwrap_or(""))
        .json(body);
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    let r = request.send().await.expect("POST /mcp");
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.expect("body");
    // An SSE answer: the message is the `data:` that is not the priming
    // event's empty one.
    let message = match text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| !d.trim().is_empty())
    {
        Some(data) => data.to_string(),
        None => text,
    };
    (status, session, message)
}

fn parse(message: &str) -> Value {
    serde_json::from_str(message).unwrap_or_else(|e| panic!("{e}: {message}"))
}

/// A 2025-11-25 session: `initialize` with `capabilities`, then
/// `notifications/initialized`. The session id and the `initialize` result.
async fn session(app: &TestApp, key: &str, capabilities: Value) -> (String, Value) {
    let (status, id, message) = post(
        app,
        key,
        None,
        "2025-11-25",
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "apps-test", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    let id = id.expect("a session id");
    let (status, _, _) = post(
        app,
        key,
        Some(&id),
        "2025-11-25",
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    (id, parse(&message)["result"].clone())
}

/// A request in a session: the answer's bytes.
async fn in_session(app: &TestApp, key: &str, id: &str, method: &str, params: Value) -> String {
    let (status, _, message) = post(
        app,
        key,
        Some(id),
        "2025-11-25",
        &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    message
}

/// A stateless (2026-07-28) request declaring `capabilities`: its bytes.
async fn stateless(app: &TestApp, key: &str, method: &str, params: Value, caps: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "apps-test", "version": "1"}});
    let (status, _, message) = post(
        app,
        key,
        None,
        "2026-07-28",
        &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    message
}

async fn app_with(apps: bool) -> (TestApp, String) {
    app_paged(apps, 0, false).await
}

/// A server with the trip agent (and, `second`, another published one),
/// a draft, and `tools_page_size`.
async fn app_paged(apps: bool, page_size: usize, second: bool) -> (TestApp, String) {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(db, |c| {
        c.mcp.apps = apps;
        c.mcp.tools_page_size = page_size;
    })
    .await;
    let store = app.store().await;
    store.create_agent(&trip_agent()).await.expect("agent");
    if second {
        let mut zeta = crate::helpers::sample_agent("zeta_tool");
        zeta.status = vieagent::store::AgentStatus::Published;
        store.create_agent(&zeta).await.expect("second agent");
    }
    let mut hidden = crate::helpers::sample_agent("draft_tool");
    hidden.status = vieagent::store::AgentStatus::Draft;
    store.create_agent(&hidden).await.expect("draft agent");
    let (_, key) = app.user_with_key("ada@example.com").await;
    // The catalog has the agent.
    for _ in 0..100 {
        let list = stateless(&app, &key, "tools/list", json!({}), json!({})).await;
        if list.contains("trip_planner") && (!second || list.contains("zeta_tool")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (app, key)
}

#[tokio::test]
async fn apps_are_offered_only_to_clients_that_declare_them() {
    let (on, on_key) = app_with(true).await;
    let (off, off_key) = app_with(false).await;

    // Clients that do not declare the extension: byte for byte the list of
    // a server without apps, on both protocol generations (and a client
    // that declares it to a server with apps off gets the same).
    let (s_on, _) = session(&on, &on_key, json!({})).await;
    let (s_off, _) = session(&off, &off_key, ui_capabilities()).await;
    let plain_on = in_session(&on, &on_key, &s_on, "tools/list", json!({})).await;
    let plain_off = in_session(&off, &off_key, &s_off, "tools/list", json!({})).await;
    assert_eq!(plain_on, plain_off, "2025-11-25 tools/list");
    assert!(!plain_on.contains("resourceUri"), "{plain_on}");
    for caps in [json!({}), json!({"extensions": {UI: {}}})] {
        let on_list = stateless(&on, &on_key, "tools/list", json!({}), caps.clone()).await;
        let off_list = stateless(&off, &off_key, "tools/list", json!({}), caps).await;
        assert_eq!(on_list, off_list, "2026-07-28 tools/list");
        assert!(!on_list.contains("resourceUri"), "{on_list}");
    }
    let off_ui = stateless(&off, &off_key, "tools/list", json!({}), ui_capabilities()).await;
    assert!(
        !off_ui.contains("resourceUri"),
        "mcp.apps = false: {off_ui}"
    );

    // The server declares the extension (and resources) when apps are on.
    let (_, init_on) = session(&on, &on_key, ui_capabilities()).await;
    assert!(
        init_on["capabilities"]["extensions"][UI].is_object(),
        "{init_on}"
    );
    assert!(
        init_on["capabilities"]["resources"].is_object(),
        "{init_on}"
    );
    let (_, init_off) = session(&off, &off_key, ui_capabilities()).await;
    assert!(
        init_off["capabilities"]
            .get("extensions")
            .is_none_or(|e| e.get(UI).is_none()),
        "{init_off}"
    );
    assert!(
        init_off["capabilities"].get("resources").is_none(),
        "{init_off}"
    );

    // A client that declares it: each tool names its app, in a session and
    // statelessly alike.
    let (s_ui, _) = session(&on, &on_key, ui_capabilities()).await;
    let listed = [
        parse(&in_session(&on, &on_key, &s_ui, "tools/list", json!({})).await),
        parse(&stateless(&on, &on_key, "tools/list", json!({}), ui_capabilities()).await),
    ];
    let uri = listed[0]["result"]["tools"][0]["_meta"]["ui"]["resourceUri"]
        .as_str()
        .expect("a resourceUri")
        .to_string();
    assert!(
        uri.starts_with("ui://vieagent/agents/trip_planner?v="),
        "{uri}"
    );
    let uri = uri.as_str();
    for list in &listed {
        let tool = &list["result"]["tools"][0];
        assert_eq!(tool["name"], "trip_planner", "{list}");
        assert_eq!(tool["_meta"]["ui"]["resourceUri"], uri, "{list}");
        assert_eq!(tool["_meta"]["ui/resourceUri"], uri, "{list}");
        // The rest of the definition is the plain one.
        let plain = &parse(&plain_on)["result"]["tools"][0];
        let mut without = tool.clone();
        without.as_object_mut().expect("tool").remove("_meta");
        assert_eq!(&without, plain);
    }

    // resources/list: the apps of the tools the user sees (not the draft).
    for list in [
        parse(&in_session(&on, &on_key, &s_ui, "resources/list", json!({})).await),
        parse(&stateless(&on, &on_key, "resources/list", json!({}), ui_capabilities()).await),
    ] {
        let resources = list["result"]["resources"].as_array().expect("resources");
        assert_eq!(resources.len(), 1, "{list}");
        assert_eq!(resources[0]["uri"], uri);
        assert_eq!(resources[0]["mimeType"], MIME);
        assert_eq!(resources[0]["title"], "Trip planner");
        assert_eq!(
            resources[0]["_meta"]["ui"]["csp"]["connectDomains"],
            json!([])
        );
    }
    // Clients without the extension are listed no apps.
    let none = parse(&in_session(&on, &on_key, &s_on, "resources/list", json!({})).await);
    assert_eq!(none["result"]["resources"], json!([]), "{none}");

    // resources/read: the app, self-contained, with the agent's schema in
    // the author's order.
    let read = parse(&in_session(&on, &on_key, &s_ui, "resources/read", json!({"uri": uri})).await);
    let content = &read["result"]["contents"][0];
    assert_eq!(content["mimeType"], MIME, "{read}");
    assert_eq!(content["uri"], uri);
    assert_eq!(content["_meta"]["ui"]["csp"]["resourceDomains"], json!([]));
    let html = content["text"].as_str().expect("html");
    assert!(html.starts_with("<!doctype html>"));
    let start = html.find(r#"id="vieagent-data">"#).expect("data") + 19;
    let end = start + html[start..].find("</script>").expect("end");
    let data = parse(&html[start..end]);
    assert_eq!(data["tool"], "trip_planner");
    let order: Vec<&String> = data["schema"]["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    assert_eq!(order, ["destination", "mode", "traveler", "stops"]);
    assert_eq!(
        data["messages"]["vi"]["mcpapp-run"],
        "Chạy với các giá trị này"
    );
    assert_eq!(
        data["messages"]["en"]["mcpapp-run"],
        "Run with these values"
    );

    // An agent the user cannot see, another scheme, or apps off: not found.
    for (app, key, uri) in [
        (&on, &on_key, "ui://vieagent/agents/draft_tool"),
        (&on, &on_key, "ui://vieagent/agents/nope"),
        (&on, &on_key, "file:///etc/passwd"),
        (&off, &off_key, "ui://vieagent/agents/trip_planner"),
    ] {
        let (status, _, message) = post(
            app,
            key,
            None,
            "2026-07-28",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {
                "uri": uri, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": ui_capabilities(),
                "io.modelcontextprotocol/clientInfo": {"name": "apps-test", "version": "1"}}}}),
        )
        .await;
        let message = parse(&message);
        assert!(status == 200 || status == 404 || status == 400, "{status}");
        assert!(message["error"]["code"].is_i64(), "{uri}: {message}");
        assert!(
            !message.to_string().contains("Trip planner"),
            "{uri}: {message}"
        );
    }

    // Paged (one tool a page): each page's tools name their apps, and
    // resources/list pages the same way.
    let (paged, paged_key) = app_paged(true, 1, true).await;
    let mut cursor: Option<String> = None;
    let mut names = Vec::new();
    for method in ["tools/list", "resources/list"] {
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page =
                parse(&stateless(&paged, &paged_key, method, params, ui_capabilities()).await);
            let result = &page["result"];
            if method == "tools/list" {
                let tools = result["tools"].as_array().expect("tools");
                assert_eq!(tools.len(), 1, "{page}");
                assert!(tools[0]["_meta"]["ui"]["resourceUri"].is_string(), "{page}");
                names.push(tools[0]["name"].clone());
            } else {
                let resources = result["resources"].as_array().expect("resources");
                assert_eq!(resources.len(), 1, "{page}");
                names.push(resources[0]["name"].clone());
            }
            cursor = result["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
    }
    assert_eq!(
        names,
        [
            json!("trip_planner"),
            json!("zeta_tool"),
            json!("trip_planner"),
            json!("zeta_tool")
        ]
    );
}

// ---------------------------------------------------------------------------
// A real host in Chromium.

fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

/// The host page and its bundle, served from their own origin (as a real
/// host is not the gateway). A missing bundle fails with what to run.
async fn serve_host() -> SocketAddr {
    let dir = apps_dir();
    let page = std::fs::read(dir.join("host.html")).expect("tests/apps/host.html");
    let bundle = std::fs::read(dir.join("dist/host.js")).unwrap_or_else(|e| {
        panic!(
            "the test host is not built ({e}). Run: npm ci --prefix tests/apps && npm run build --prefix tests/apps"
        )
    });
    let router = axum::Router::new()
        .route(
            "/host.html",
            axum::routing::get(move || {
                let page = page.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], page) }
            }),
        )
        .route(
            "/favicon.ico",
            axum::routing::get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/dist/host.js",
            axum::routing::get(move || {
                let bundle = bundle.clone();
                async move { ([("content-type", "text/javascript")], bundle) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Chromium with the DevTools network log on.
async fn logged_browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=760,1400"]
        }),
    );
    caps.insert(
        "goog:loggingPrefs".into(),
        json!({"performance": "ALL", "browser": "ALL"}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver.url())
        .await
        .expect("a Chromium session")
}

/// chromedriver's log endpoint (not in W3C WebDriver): `performance` (the
/// DevTools events) or `browser` (the console).
#[derive(Debug)]
struct Log(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for Log {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": self.0}).to_string()),
        )
    }
}

/// The DevTools events logged since the last read.
async fn devtools_events(c: &Client) -> Vec<Value> {
    let entries = c
        .issue_cmd(Log("performance"))
        .await
        .expect("performance log");
    entries
        .as_array()
        .expect("log entries")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .map(|m| m["message"].clone())
        .collect()
}

async fn open_host(c: &Client, host: SocketAddr, params: &Value) {
    // decodeURIComponent: a space is %20 (a literal `+` is already %2B).
    let hash = url::form_urlencoded::byte_serialize(params.to_string().as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    // A new query each time: a hash alone would not load the page again.
    let load = uuid::Uuid::new_v4().simple();
    c.goto(&format!("http://{host}/host.html?load={load}#{hash}"))
        .await
        .expect("goto host");
    for _ in 0..200 {
        let state = c
            .execute("return {ready: window.__host && window.__host.ready, error: window.__host && window.__host.error};", vec![])
            .await
            .expect("host state");
        if let Some(error) = state["error"].as_str() {
            let tools = c
                .execute("return JSON.stringify(window.__host.toolsList);", vec![])
                .await
                .unwrap_or_default();
            panic!("the host failed: {error}; tools/list: {tools}");
        }
        if state["ready"] == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the host did not become ready");
}

async fn host_state(c: &Client, expr: &str) -> Value {
    c.execute(&format!("return {expr};"), vec![])
        .await
        .expect("host state")
}

fn css(s: &str) -> Locator<'_> {
    Locator::Css(s)
}

async fn enter_app(c: &Client) {
    c.enter_parent_frame().await.ok();
    c.enter_frame(Some(0)).await.expect("the app's frame");
}

async fn leave_app(c: &Client) {
    c.enter_frame(None).await.expect("the host's page");
}

/// Run `script` in the host's page (the test host's controls), then go
/// back into the app's frame.
async fn in_host(c: &Client, script: &str) {
    leave_app(c).await;
    c.execute(script, vec![]).await.expect(script);
    enter_app(c).await;
}

/// The text of the app's element, waiting for it.
async fn app_text(c: &Client, selector: &str) -> String {
    if let Err(e) = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(css(selector))
        .await
    {
        let shown = text_now(c, "body").await;
        let console = c.issue_cmd(Log("browser")).await.unwrap_or_default();
        panic!("{selector}: {e}; the app shows: {shown}; console: {console:#}")
    }
    text_now(c, selector).await
}

/// The text of the app's element now ("" if there is none): one script,
/// so a re-render between finding it and reading it cannot interfere.
async fn text_now(c: &Client, selector: &str) -> String {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
        vec![json!(selector)],
    )
    .await
    .expect("text")
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Click the app's element.
async fn click(c: &Client, selector: &str) {
    c.find(css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .expect("click");
}

/// The text of the app's element once `done` holds for it (or, after
/// 10 s, as it is then: the caller's assertion says what was expected).
async fn text_until(c: &Client, selector: &str, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = text_now(c, selector).await;
        if done(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    text
}

/// Until the app follows the host's theme.
async fn wait_theme(c: &Client, theme: &str) {
    let mut now = Value::Null;
    for _ in 0..50 {
        now = c
            .execute("return document.documentElement.dataset.theme;", vec![])
            .await
            .expect("theme");
        if now == theme {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the app's theme is {now}, not {theme}");
}

async fn value_of(c: &Client, pointer: &str) -> String {
    c.find(css(&format!("#{}", field_id(pointer))))
        .await
        .unwrap_or_else(|e| panic!("{pointer}: {e}"))
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn set_value(c: &Client, pointer: &str, text: &str) {
    let field = c
        .find(css(&format!("#{}", field_id(pointer))))
        .await
        .unwrap_or_else(|e| panic!("{pointer}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn the_easy_mode_app_in_a_real_host() {
    let (flowise, seen) = trip_flowise().await;
    let host = serve_host().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let flowise_url = flowise.uri();
    let app = TestApp::spawn_with(db, |c| {
        c.engines.flowise.base_url = Some(flowise_url.parse().expect("url"));
        c.mcp.allowed_origins = vec![format!("http://{host}")];
        c.marketplace.agent_url = Some("https://vieagent.vn/agents/{tool}".into());
        c.marketplace.credits_url = Some("https://vieagent.vn/credits".parse().expect("url"));
    })
    .await;
    let store = app.store().await;
    store.create_agent(&trip_agent()).await.expect("agent");
    store
        .create_agent(&priced_agent())
        .await
        .expect("priced agent");
    store
        .create_agent(&event_agent())
        .await
        .expect("event agent");
    let (_ada, key) = app.user_with_key("ada@example.com").await;
    for _ in 0..100 {
        let list = stateless(&app, &key, "tools/list", json!({}), json!({})).await;
        if ["trip_planner", "pro_writer", "event_planner"]
            .iter()
            .all(|t| list.contains(t))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let driver = chromedriver().await;
    let c = logged_browser(&driver).await;
    let model_args = json!({"destination": "Huế", "mode": "plane",
        "traveler": {"name": "Ada", "age": 36}, "stops": ["Đà Nẵng"]});
    let params = |theme: &str, locale: &str, call_first: bool| {
        json!({"gateway": app.url("/mcp"), "key": key, "tool": "trip_planner",
               "arguments": model_args, "callFirst": call_first, "theme": theme,
               "locale": locale, "width": 680})
    };
    let opened_link = |c: &Client| {
        let c = c.clone();
        async move {
            for _ in 0..50 {
                let opened = host_state(&c, "window.__host.openedLinks").await;
                if let Some(link) = opened[0].as_str() {
                    return link.to_string();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the app asked the host to open no link")
        }
    };

    // 1. The model called the tool without Ada's key: the form holds the
    //    model's values, and the result offers the connect link.
    open_host(&c, host, &params("light", "en-US", true)).await;
    let resource_mime = host_state(&c, "window.__host.resource.contents[0].mimeType").await;
    assert_eq!(resource_mime, MIME);
    // The app told the host its height (ui/notifications/size-changed),
    // once its form was laid out: an earlier notification may say less
    // (seen in CI: 137 px twice, the form's height arriving after).
    let tall = |sizes: &Value| {
        sizes.as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["height"].as_f64().is_some_and(|h| h > 200.0))
        })
    };
    let mut sizes = host_state(&c, "window.__host.sizes").await;
    for _ in 0..100 {
        if tall(&sizes) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        sizes = host_state(&c, "window.__host.sizes").await;
    }
    assert!(tall(&sizes), "{sizes}");
    enter_app(&c).await;
    assert_eq!(app_text(&c, "h1").await, "Trip planner");
    let outcome = app_text(&c, "#outcome").await;
    assert!(outcome.contains("needs your key for openai"), "{outcome}");
    assert_eq!(value_of(&c, "/destination").await, "Huế");
    assert_eq!(value_of(&c, "/traveler/name").await, "Ada");
    assert_eq!(value_of(&c, "/traveler/age").await, "36");
    assert_eq!(value_of(&c, "/stops/0").await, "Đà Nẵng");
    let mode = c
        .find(css(&format!("#{} option:checked", field_id("/mode"))))
        .await
        .expect("mode")
        .text()
        .await
        .expect("text");
    assert_eq!(mode, "plane");
    // The labels are in the author's order.
    let labels = c
        .execute(
            "return [...document.querySelectorAll('form label, form legend')].map(l => l.textContent.replace(/[ *]+$|\\s*\\(required\\)$/g, '').trim());",
            vec![],
        )
        .await
        .expect("labels");
    let labels: Vec<String> = serde_json::from_value(labels).expect("strings");
    let at = |l: &str| {
        labels
            .iter()
            .position(|x| x.starts_with(l))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("Destination") < at("Travel by")
            && at("Travel by") < at("Traveler")
            && at("Traveler") < at("Stop"),
        "{labels:?}"
    );
    screenshot(&c, "mcp-app-connect-en-light.png").await;
    click(&c, "#outcome button").await;
    leave_app(&c).await;
    let link = opened_link(&c).await;
    assert!(link.starts_with(&app.url("/app/connect")), "{link}");
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no engine call without the key"
    );

    // 2. Ada stores her key (the connect page is tested elsewhere); in the
    //    app she changes the destination and sets an age the agent refuses:
    //    the field says so, in her language, next to it.
    let put = app
        .http
        .put(app.url("/v1/me/credentials/openai"))
        .bearer_auth(&key)
        .json(&json!({"value": "sk-ada-apps-4242"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    enter_app(&c).await;
    c.find(css(&format!("#{}", field_id("/destination"))))
        .await
        .expect("destination")
        .clear()
        .await
        .expect("clear");
    set_value(&c, "/traveler/age", "200").await;
    click(&c, "#run").await;
    // An emptied required field is left out, so the agent asks for it
    // (it is never run with ""); each refused field says what to do.
    let error = app_text(&c, &format!("#{}-error-1", field_id("/destination"))).await;
    assert_eq!(error, "Enter Destination.");
    let error = app_text(&c, &format!("#{}-error-1", field_id("/traveler/age"))).await;
    assert_eq!(error, "Enter a whole number from 0 to 130.");
    let invalid = c
        .find(css(&format!("#{}", field_id("/traveler/age"))))
        .await
        .expect("age")
        .attr("aria-invalid")
        .await
        .expect("attr");
    assert_eq!(invalid.as_deref(), Some("true"));
    let focused = c
        .execute(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await
        .expect("focus");
    assert_eq!(
        focused,
        json!(field_id("/destination")),
        "the first wrong field has focus"
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "a refused run reaches no engine"
    );
    in_host(&c, "window.__host.setTheme('dark'); return true;").await;
    wait_theme(&c, "dark").await;
    screenshot(&c, "mcp-app-error-en-dark.png").await;
    in_host(&c, "window.__host.setTheme('light'); return true;").await;
    wait_theme(&c, "light").await;

    // 3. Corrected, it runs through the host; the result is text (the
    //    engine's `<b>` is shown, not rendered) and the details a table.
    set_value(&c, "/destination", "Hội An").await;
    set_value(&c, "/traveler/age", "40").await;
    click(&c, "#run").await;
    let title = app_text(&c, "#outcome-title").await;
    let mut output = String::new();
    for _ in 0..100 {
        output = app_text(&c, "#outcome").await;
        if output.contains("Trip") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(title == "Result" || output.contains("Result"), "{title}");
    assert!(
        output.contains("<b>Trip</b> to Hội An by plane for Ada (1 stops)"),
        "{output}"
    );
    let bold = c.find_all(css("#outcome b")).await.expect("find");
    assert!(bold.is_empty(), "the engine's HTML is never rendered");
    assert!(
        c.find(css("#outcome table")).await.is_ok(),
        "structured content as a table"
    );
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["form"]["destination"], "Hội An");
        assert_eq!(seen[0]["form"]["traveler"]["age"], 40);
        assert_eq!(seen[0]["form"]["mode"], "plane");
    }
    screenshot(&c, "mcp-app-result-en-light.png").await;
    let violations = crate::a11y::axe_violations(&c).await;
    assert!(violations.is_empty(), "axe (en, light): {violations:#?}");

    // 3b. A run that takes a while: Run waits, the status counts the
    //     seconds, then the result replaces it.
    set_value(&c, "/destination", "Sa Pa").await;
    click(&c, "#run").await;
    let status = text_until(&c, "#status", |status| {
        status.starts_with("Running… ") && status.ends_with(" s")
    })
    .await;
    assert!(
        status.starts_with("Running… ") && status.ends_with(" s"),
        "{status}"
    );
    let disabled = c
        .find(css("#run"))
        .await
        .expect("run")
        .prop("disabled")
        .await
        .expect("prop");
    assert_eq!(
        disabled.as_deref(),
        Some("true"),
        "Run waits for the run under way"
    );
    let done = text_until(&c, "#outcome", |done| done.contains("Sa Pa:")).await;
    assert!(done.contains("Sa Pa: {"), "{done}");
    let status = text_now(&c, "#status").await;
    assert_eq!(status, "");
    // The engine echoed the key it was sent; the app shows it scrubbed.
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|b| b.to_string().contains("sk-ada-apps-4242")),
        "the engine got the key"
    );
    let page = text_now(&c, "body").await;
    assert!(!page.contains("sk-ada-apps-4242"), "no key in the app");
    assert!(
        page.contains("[REDACTED]"),
        "the echoed key, scrubbed: {page}"
    );
    leave_app(&c).await;
    let calls = host_state(&c, "window.__host.appCalls.length").await;
    assert_eq!(calls, json!(3), "every run went through the host");

    // 5. Vietnamese, dark: the host's theme and locale, then a theme change.
    open_host(&c, host, &params("dark", "vi-VN", true)).await;
    enter_app(&c).await;
    assert_eq!(app_text(&c, "#run").await, "Chạy với các giá trị này");
    assert_eq!(app_text(&c, "#outcome-title").await, "Kết quả");
    let lang_theme = c
        .execute("return [document.documentElement.lang, document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor];", vec![])
        .await
        .expect("lang");
    assert_eq!(lang_theme[0], "vi");
    assert_eq!(lang_theme[1], "dark");
    let violations = crate::a11y::axe_violations(&c).await;
    assert!(violations.is_empty(), "axe (vi, dark): {violations:#?}");
    screenshot(&c, "mcp-app-result-vi-dark.png").await;
    in_host(&c, "window.__host.setTheme('light'); return true;").await;
    wait_theme(&c, "light").await;
    let violations = crate::a11y::axe_violations(&c).await;
    assert!(violations.is_empty(), "axe (vi, light): {violations:#?}");
    screenshot(&c, "mcp-app-result-vi-light.png").await;
    // Keyboard: Tab from the first field reaches "Run" without a mouse.
    c.find(css(&format!("#{}", field_id("/destination"))))
        .await
        .expect("first field")
        .click()
        .await
        .expect("focus");
    let mut reached = false;
    for _ in 0..20 {
        c.active_element()
            .await
            .expect("active")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let id = c
            .execute(
                "return document.activeElement && document.activeElement.id;",
                vec![],
            )
            .await
            .expect("focus");
        if id == "run" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the Run button");
    leave_app(&c).await;

    // 6. Times keep the zone the model gave them; a changed one too.
    let mut event = params("light", "en-US", true);
    event["tool"] = json!("event_planner");
    event["arguments"] = json!({"when": "2026-12-31T09:30:00Z", "at": "09:30:15-05:00", "contact_phone": "+84 90 000 0000"});
    let before = seen.lock().expect("lock").len();
    open_host(&c, host, &event).await;
    enter_app(&c).await;
    assert_eq!(value_of(&c, "/when").await, "2026-12-31T09:30");
    assert_eq!(value_of(&c, "/at").await, "09:30:15");
    let types = c
        .execute(
            "return ['/when', '/at', '/contact_phone'].map(p => document.querySelector('[name=\"' + p + '\"]').type);",
            vec![],
        )
        .await
        .expect("types");
    assert_eq!(types, json!(["datetime-local", "time", "tel"]));
    c.execute(
        "const e = document.querySelector('[name=\"/when\"]'); e.value = '2027-01-01T10:00'; e.dispatchEvent(new Event('input')); return true;",
        vec![],
    )
    .await
    .expect("set when");
    click(&c, "#run").await;
    for _ in 0..100 {
        if seen.lock().expect("lock").len() >= before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), before + 2, "the model's call and the app's");
        assert_eq!(seen[before]["form"]["when"], "2026-12-31T09:30:00Z");
        assert_eq!(
            seen[before + 1]["form"]["when"],
            "2027-01-01T10:00:00Z",
            "its zone kept"
        );
        assert_eq!(seen[before + 1]["form"]["at"], "09:30:15-05:00");
    }
    leave_app(&c).await;

    // 7. A priced tool not bought: the buy link, never an admin command.
    let mut priced = params("light", "en-US", true);
    priced["tool"] = json!("pro_writer");
    priced["arguments"] = json!({"question": "Tết"});
    open_host(&c, host, &priced).await;
    enter_app(&c).await;
    let outcome = app_text(&c, "#outcome").await;
    assert!(outcome.contains("you have not bought it"), "{outcome}");
    assert!(!outcome.contains("vieagent entitlements"), "{outcome}");
    click(&c, "#outcome button").await;
    leave_app(&c).await;
    let link = opened_link(&c).await;
    assert!(
        link.starts_with("https://vieagent.vn/agents/pro_writer"),
        "{link}"
    );

    // 8. Short of credits: the top-up link.
    let broke = vieagent::accounts::create_user(
        store.as_ref(),
        "broke@example.com",
        None,
        vieagent::store::Role::User,
        "free",
        0,
    )
    .await
    .expect("user");
    let (_, broke_key) = vieagent::accounts::create_key(store.as_ref(), broke.id, "apps")
        .await
        .expect("key");
    let broke_key = secrecy::ExposeSecret::expose_secret(&broke_key).to_string();
    let put = app
        .http
        .put(app.url("/v1/me/credentials/openai"))
        .bearer_auth(&broke_key)
        .json(&json!({"value": "sk-broke-apps-1"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    let mut short = params("light", "en-US", true);
    short["key"] = json!(broke_key);
    open_host(&c, host, &short).await;
    enter_app(&c).await;
    let outcome = app_text(&c, "#outcome").await;
    assert!(outcome.contains("not have enough credits"), "{outcome}");
    click(&c, "#outcome button").await;
    leave_app(&c).await;
    let link = opened_link(&c).await;
    assert!(link.starts_with("https://vieagent.vn/credits"), "{link}");
    // 9. The app made no request of its own, in any of the runs above: every
    //    request in the DevTools log came from the host's page (its bundle
    //    and its MCP client).
    let events = devtools_events(&c).await;
    let sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .collect();
    let host_frames: Vec<Value> = sent
        .iter()
        .filter(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.contains("/host.html"))
        })
        .map(|e| e["params"]["frameId"].clone())
        .collect();
    assert!(!host_frames.is_empty(), "the host page's requests");
    assert!(
        sent.iter()
            .any(|e| e["params"]["request"]["url"].as_str() == Some(app.url("/mcp").as_str())),
        "the log shows the host's MCP requests"
    );
    // A CORS preflight names no frame: it belongs to the request it is for.
    let frame_of: std::collections::HashMap<&str, &Value> = sent
        .iter()
        .filter_map(|e| Some((e["params"]["requestId"].as_str()?, &e["params"]["frameId"])))
        .collect();
    let frame = |e: &Value| -> Value {
        match e["params"]["initiator"]["type"].as_str() {
            Some("preflight") => e["params"]["initiator"]["requestId"]
                .as_str()
                .and_then(|id| frame_of.get(id))
                .map_or(Value::Null, |f| (*f).clone()),
            _ => e["params"]["frameId"].clone(),
        }
    };
    let from_app: Vec<&Value> = sent
        .iter()
        .filter(|e| !host_frames.contains(&frame(e)))
        .map(|e| &e["params"]["request"]["url"])
        .collect();
    // The log saw the app's frame (so "not the host's" means something).
    assert!(
        events.iter().any(|e| e["method"] == "Page.frameAttached"
            && host_frames.contains(&e["params"]["parentFrameId"])),
        "the app's frame is in the log"
    );
    assert!(
        from_app.is_empty(),
        "requests from the app's frame: {from_app:?}"
    );
    let blocked: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["method"] == "Network.loadingFailed" && e["params"]["blockedReason"].is_string()
        })
        .collect();
    assert!(blocked.is_empty(), "blocked loads: {blocked:?}");

    c.close().await.ok();
    drop(driver);
}

/// The conversation as the host tells it, step by step: the model still
/// writing its arguments, then done, then the host cancelling the call; the
/// person's locale changing mid-way (what they typed stays); a host that
/// declines to open a link (the app shows it to copy).
#[tokio::test]
async fn the_app_follows_the_host_step_by_step() {
    let (flowise, seen) = trip_flowise().await;
    let host = serve_host().await;
    let flowise_url = flowise.uri();
    let app = TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |c| {
        c.engines.flowise.base_url = Some(flowise_url.parse().expect("url"));
        c.mcp.allowed_origins = vec![format!("http://{host}")];
    })
    .await;
    app.store()
        .await
        .create_agent(&trip_agent())
        .await
        .expect("agent");
    let (_, key) = app.user_with_key("binh@example.com").await;
    for _ in 0..100 {
        let list = stateless(&app, &key, "tools/list", json!({}), json!({})).await;
        if list.contains("trip_planner") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let driver = chromedriver().await;
    let c = logged_browser(&driver).await;
    open_host(
        &c,
        host,
        &json!({"gateway": app.url("/mcp"), "key": key, "tool": "trip_planner",
                "arguments": {}, "hold": true, "refuseLinks": true, "locale": "en-US"}),
    )
    .await;
    enter_app(&c).await;
    assert_eq!(
        app_text(&c, "main p.muted:last-child").await,
        "Waiting for the assistant's values…"
    );

    // The model is still writing: its values so far, not yet running.
    in_host(
        &c,
        "window.__host.sendPartial({destination: 'Hu'}); return true;",
    )
    .await;
    app_text(&c, "#run").await;
    assert_eq!(value_of(&c, "/destination").await, "Hu");
    assert_eq!(
        text_now(&c, "#status").await,
        "Waiting for the assistant's values…"
    );

    // Done: the host runs the call; then cancels it.
    in_host(&c, "window.__host.sendInput({destination: 'Huế', mode: 'train', traveler: {name: 'Bình'}}); return true;").await;
    let mut status = String::new();
    for _ in 0..50 {
        status = text_now(&c, "#status").await;
        if status.starts_with("Running") && value_of(&c, "/destination").await == "Huế" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.starts_with("Running"), "{status}");
    let disabled = c
        .find(css("#run"))
        .await
        .expect("run")
        .prop("disabled")
        .await
        .expect("prop");
    assert_eq!(
        disabled.as_deref(),
        Some("false"),
        "usable while the host runs the model's call"
    );
    in_host(&c, "window.__host.sendCancelled('stopped'); return true;").await;
    let outcome = text_until(&c, "#outcome", |outcome| !outcome.is_empty()).await;
    assert_eq!(outcome, "The run was cancelled.");
    assert_eq!(text_now(&c, "#status").await, "");

    // The person types, then the host's locale changes: Vietnamese, and
    // what they typed is still there.
    set_value(&c, "/destination", "Đà Lạt").await;
    in_host(&c, "window.__host.setLocale('vi-VN'); return true;").await;
    let run = text_until(&c, "#run", |run| run == "Chạy với các giá trị này").await;
    assert_eq!(run, "Chạy với các giá trị này");
    assert_eq!(value_of(&c, "/destination").await, "Đà Lạt");

    // Run: no key yet; the host declines to open the connect link, so the
    // app shows it to copy.
    click(&c, "#run").await;
    let outcome = app_text(&c, "#outcome button").await;
    assert_eq!(outcome, "Thêm khóa của bạn trên VieAgent");
    click(&c, "#outcome button").await;
    let shown = text_until(&c, "#outcome code.link", |shown| !shown.is_empty()).await;
    assert!(shown.starts_with(&app.url("/app/connect")), "{shown}");
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no key, no engine call"
    );
    leave_app(&c).await;
    let opened = host_state(&c, "window.__host.openedLinks.length").await;
    assert_eq!(opened, json!(1), "the host was asked");
    c.close().await.ok();
    drop(driver);
}
