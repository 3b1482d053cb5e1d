//! The user's own side, end to end over HTTP: `/v1/me/credentials`, the
//! Easy Mode web app at `/app` (sessions, CSRF, forms from `input_schema`,
//! history, isolation between users), connect links from a failed MCP call
//! (signed, single-use, expiring, bound to the user), and URL-mode
//! elicitation with rmcp's client. The same story in a real browser is in
//! `browser.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, ErrorData, Implementation, ProtocolVersion, UrlElicitationCapability,
};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{
    AgentStatus, DynStore, EngineType, ExecutionLogFilter, ExecutionStatus, NewAgent, User,
};
use vieagent::web::form::field_id;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, text_of, transport};

crate::backend_tests!(
    self_service_credentials_api,
    easy_mode_sign_in_run_history_and_isolation,
    connect_link_from_a_failed_call_stores_the_key_once,
    own_api_keys_shown_once_used_and_revoked
);

/// Bodies the mock Flowise received.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// A Flowise Agentflow V2 mock (form input): answers with the form it got
/// and some markup, which must arrive escaped.
pub async fn form_flowise() -> (MockServer, Seen) {
    let server = MockServer::start().await;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/[A-Za-z0-9_-]+$"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            record.lock().expect("lock").push(body.clone());
            let form = &body["form"];
            ResponseTemplate::new(200).set_body_json(json!({
                "text": format!(
                    "<b>Trip</b> to {} by {} for {} ({} stops)",
                    form["destination"].as_str().unwrap_or("?"),
                    form["mode"].as_str().unwrap_or("?"),
                    form["traveler"]["name"].as_str().unwrap_or("?"),
                    form["stops"].as_array().map_or(0, Vec::len),
                ),
                "executionId": format!("exec-{}", Uuid::new_v4().simple()),
            }))
        })
        .mount(&server)
        .await;
    (server, seen)
}

/// An agent whose schema has an enum, a nested object (through `$ref`) and
/// an array, and which needs the user's OpenAI key.
pub fn trip_agent() -> NewAgent {
    NewAgent {
        name: "Trip planner".into(),
        tool_name: "trip_planner".into(),
        description: "Plans a trip <em>for you</em>".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b".into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "destination": {"type": "string", "title": "Destination", "minLength": 2, "maxLength": 80,
                                "description": "Where to go"},
                "mode": {"type": "string", "title": "Travel by", "enum": ["train", "plane", "bike"], "default": "train"},
                "traveler": {"$ref": "#/$defs/traveler"},
                "stops": {"type": "array", "title": "Stop", "items": {"type": "string", "maxLength": 40}}
            },
            "required": ["destination", "mode", "traveler"],
            "additionalProperties": false,
            "$defs": {"traveler": {"type": "object", "title": "Traveler", "required": ["name"], "properties": {
                "name": {"type": "string", "title": "Name", "minLength": 1, "maxLength": 60},
                "age": {"type": "integer", "title": "Age", "minimum": 0, "maximum": 130}
            }}}
        }),
        required_credential_types: vec!["openai".into()],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 1,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "form"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

pub struct WebFixture {
    pub app: TestApp,
    /// Kept alive for the fixture's lifetime.
    _flowise: MockServer,
    pub seen: Seen,
    pub store: DynStore,
}

impl WebFixture {
    pub async fn new(backend: Backend, adjust: impl FnOnce(&mut vieagent::Config)) -> Self {
        let (flowise, seen) = form_flowise().await;
        let uri = flowise.uri();
        let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
            c.engines.flowise.base_url = Some(uri.parse().expect("url"));
            c.engines.flowise.call_timeout = Duration::from_secs(5);
            adjust(c);
        })
        .await;
        let store = app.store().await;
        store.create_agent(&trip_agent()).await.expect("agent");
        // The catalog is loaded (a loaded machine may take a while; never
        // go on without it: pages would show no tools).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready: Value = app
                .http
                .get(app.url("/readyz"))
                .send()
                .await
                .expect("readyz")
                .json()
                .await
                .expect("json");
            if ready["tools"].as_u64() == Some(1) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the trip tool never reached the catalog: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            app,
            _flowise: flowise,
            seen,
            store,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.app.addr)
    }

    /// A user with an API key and, if given, a stored OpenAI key.
    pub async fn user(&self, email: &str, openai: Option<&str>) -> (User, String) {
        let (user, key) = self.app.user_with_key(email).await;
        if let Some(secret) = openai {
            self.app
                .db
                .vault(&self.store)
                .await
                .put(&user, "openai", "default", &SecretString::from(secret))
                .await
                .expect("credential");
        }
        (user, key)
    }

    fn engine_calls(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    fn last_engine_body(&self) -> Value {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    async fn rows_of(&self, user: &User) -> Vec<vieagent::store::ExecutionLog> {
        self.store
            .list_execution_logs(&ExecutionLogFilter {
                user_id: Some(user.id),
                ..Default::default()
            })
            .await
            .expect("rows")
    }
}

/// A cookie-keeping HTTP client that does not follow redirects: a browser
/// without a browser.
pub struct Browserless {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    /// The browser's `Accept-Language` (English unless a test asks).
    accept_language: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_string()
    }
}

impl Browserless {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_string(),
            cookies: BTreeMap::new(),
            accept_language: "en-US,en;q=0.9".into(),
        }
    }

    /// Whether the browser holds a cookie of that name.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }

    /// A browser set to Vietnamese.
    pub fn vietnamese(base: &str) -> Self {
        Self {
            accept_language: "vi-VN,vi;q=0.9".into(),
            ..Self::new(base)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let response = request
            .header("cookie", self.cookie_header())
            .header("accept-language", &self.accept_language)
            .send()
            .await
            .expect("request");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if text.contains("Max-Age=0") || v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let request = self.http.get(url);
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Post, then load the page the redirect names (post/redirect/get).
    pub async fn post_and_follow(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let posted = self.post(path, pairs).await;
        assert_eq!(
            posted.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            posted.body
        );
        let to = posted.location().to_string();
        self.get(&to).await
    }

    pub async fn sign_in(&mut self, key: &str) {
        let page = self.get("/app/login").await;
        let csrf = page.csrf();
        let signed = self
            .post("/app/login", &[("_csrf", &csrf), ("api_key", key)])
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        assert_eq!(signed.location(), "/app/tools");
    }
}

async fn self_service_credentials_api(backend: Backend) {
    let f = WebFixture::new(backend, |_| {}).await;
    let (user, key) = f.user("self@example.com", None).await;
    let http = &f.app.http;
    let url = |p: &str| f.app.url(p);

    let put = http
        .put(url("/v1/me/credentials/openai"))
        .bearer_auth(&key)
        .json(&json!({"value": "sk-self-1111"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    let view: Value = put.json().await.expect("json");
    assert_eq!(view["provider"], "openai");
    assert_eq!(view["key_name"], "default");
    assert!(view.get("value").is_none(), "write-only: {view}");

    let list: Value = http
        .get(url("/v1/me/credentials"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains("sk-self"), "{list}");

    // The next call uses it at once, and a replacement too (no cache delay).
    let (client, _) = connect_http(&f.base(), &key, Protocol::Session).await;
    let args = json!({"destination": "Hue", "mode": "train", "traveler": {"name": "An"}});
    let r = call(&client, "trip_planner", args.clone()).await;
    assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
    assert_eq!(
        f.last_engine_body()["overrideConfig"]["openAIApiKey"],
        "sk-self-1111"
    );
    http.put(url("/v1/me/credentials/openai"))
        .bearer_auth(&key)
        .json(&json!({"value": "sk-self-2222"}))
        .send()
        .await
        .expect("replace");
    call(&client, "trip_planner", args).await;
    assert_eq!(
        f.last_engine_body()["overrideConfig"]["openAIApiKey"],
        "sk-self-2222"
    );

    // Bad input: a clear error, nothing stored.
    for (path, body) in [
        ("/v1/me/credentials/Open%20AI", json!({"value": "x"})),
        ("/v1/me/credentials/anthropic", json!({"value": ""})),
        (
            "/v1/me/credentials/anthropic",
            json!({"value": "x", "extra": 1}),
        ),
    ] {
        let r = http
            .put(url(path))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("put");
        assert!(
            r.status().is_client_error(),
            "{path} {body}: {}",
            r.status()
        );
    }
    let missing = http
        .delete(url("/v1/me/credentials/anthropic"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(missing.status(), 404);
    let unauthenticated = http
        .get(url("/v1/me/credentials"))
        .send()
        .await
        .expect("get");
    assert_eq!(unauthenticated.status(), 401);

    let deleted = http
        .delete(url("/v1/me/credentials/openai"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert!(
        f.app
            .db
            .vault(&f.store)
            .await
            .list(user.id)
            .await
            .expect("list")
            .is_empty()
    );

    // Audited, as the user themself, without the value.
    let audit = f.store.list_audit(None, 50).await.expect("audit");
    let mine: Vec<_> = audit
        .iter()
        .filter(|e| e.actor == "self:self@example.com")
        .collect();
    assert_eq!(
        mine.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["credential.delete", "credential.put", "credential.put"]
    );
    assert!(!format!("{audit:?}").contains("sk-self"));
}

async fn easy_mode_sign_in_run_history_and_isolation(backend: Backend) {
    let f = WebFixture::new(backend, |_| {}).await;
    let (ada, ada_key) = f.user("ada@example.com", Some("sk-ada-secret-77")).await;
    let (_bob, bob_key) = f.user("bob@example.com", None).await;
    let mut web = Browserless::new(&f.base());

    // Signed out: every page leads to sign-in.
    let page = web.get("/app/tools").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
    // A wrong key: a clear message, no session.
    let login = web.get("/app/login").await;
    for header in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(login.headers.contains_key(header), "{header}");
    }
    let csp = login.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    let csrf = login.csrf();
    let wrong = web
        .post_and_follow("/app/login", &[("_csrf", &csrf), ("api_key", "vak_wrong")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.body.contains("vak_wrong"), "the key is not kept");
    assert!(wrong.body.contains("not valid"), "{}", wrong.body);
    // A post without the CSRF token is refused, even with a good key.
    let forged = web.post("/app/login", &[("api_key", &ada_key)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    web.sign_in(&ada_key).await;
    let session_cookie = web.cookies["vieagent_session"].clone();

    // Tools: name, escaped description, price, the key it needs is stored.
    let tools = web.get("/app/tools").await;
    assert_eq!(tools.status, StatusCode::OK);
    assert!(tools.body.contains("Trip planner"));
    assert!(
        tools
            .body
            .contains("Plans a trip &lt;em&gt;for you&lt;/em&gt;")
    );
    assert!(tools.body.contains("openai ✓"), "{}", tools.body);

    // The form: a labelled control per field, enum as a select, the
    // nested object, the array with one row.
    let form = web.get("/app/tools/trip_planner").await;
    for pointer in [
        "/destination",
        "/mode",
        "/traveler/name",
        "/traveler/age",
        "/stops/0",
    ] {
        assert!(
            form.body
                .contains(&format!("for=\"{}\"", field_id(pointer))),
            "{pointer}"
        );
    }
    assert!(form.body.contains("<select"));
    let csrf = form.csrf();

    // A submission the schema refuses: field errors, no engine call, one failed row.
    let before = f.engine_calls();
    let bad = web
        .post_and_follow(
            "/app/tools/trip_planner",
            &[
                ("_csrf", &csrf),
                ("/destination", "X"),
                ("/mode", "#1"),
                ("/traveler/name", ""),
                ("/traveler/age", "200"),
                ("/stops#rows", "1"),
                ("/stops/0", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::OK, "{}", bad.body);
    // One plain sentence per field, next to it and in the summary at the
    // top (linking to it), in the schema's order; no rule names.
    let mut summary_at = 0;
    for (pointer, sentence) in [
        ("/destination", "Enter at least 2 characters."),
        ("/traveler/name", "Enter Name."),
        ("/traveler/age", "Enter a whole number from 0 to 130."),
    ] {
        let id = field_id(pointer);
        let error_id = format!("{id}-error\">");
        let at = bad
            .body
            .find(&error_id)
            .unwrap_or_else(|| panic!("{pointer} error: {}", bad.body));
        assert!(
            bad.body[at..].starts_with(&format!("{error_id}<span>{sentence}")),
            "{pointer}: {sentence}"
        );
        let link = format!("<a href=\"#{id}\">");
        let in_summary = bad
            .body
            .find(&link)
            .unwrap_or_else(|| panic!("summary links {pointer}"));
        assert!(in_summary > summary_at, "summary in field order");
        summary_at = in_summary;
    }
    assert!(bad.body.contains("id=\"error-summary\""));
    assert!(
        bad.body.contains("<title>Error: Trip planner"),
        "the title says so"
    );
    for developer_words in ["(rule:", "minLength", "maximum", "<=", "required property"] {
        assert!(!bad.body.contains(developer_words), "{developer_words}");
    }
    // The form keeps what was typed.
    assert!(bad.body.contains("value=\"X\""));
    assert_eq!(f.engine_calls(), before, "no engine call");
    assert!(
        f.rows_of(&ada).await.is_empty(),
        "a form's mistakes are not calls"
    );

    // "Add another" adds a row and runs nothing.
    let added = web
        .post_and_follow(
            "/app/tools/trip_planner",
            &[
                ("_csrf", &csrf),
                ("/stops#rows", "1"),
                ("/stops/0", "Hue"),
                ("_add", "/stops"),
            ],
        )
        .await;
    assert!(
        added
            .body
            .contains(&format!("id=\"{}\"", field_id("/stops/1")))
    );
    assert!(added.body.contains("value=\"Hue\""), "kept: {}", added.body);
    assert!(added.body.contains("Add Stop"), "{}", added.body);
    assert!(f.rows_of(&ada).await.is_empty());

    // A good run: typed arguments, the result escaped, a new history row.
    let ok = web
        .post(
            "/app/tools/trip_planner",
            &[
                ("_csrf", &csrf),
                ("/destination", "Da Lat"),
                ("/mode", "#1"),
                ("/traveler/name", "Ada"),
                ("/traveler/age", "36"),
                ("/stops#rows", "2"),
                ("/stops/0", "Hue"),
                ("/stops/1", "Hoi An"),
            ],
        )
        .await;
    // Post/redirect/get: the result is on the page the redirect loads.
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(
        ok.location().starts_with("/app/tools/trip_planner?draft="),
        "{}",
        ok.location()
    );
    let result_url = ok.location().to_string();
    let ok = web.get(&result_url).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(
        ok.body
            .contains("&lt;b&gt;Trip&lt;/b&gt; to Da Lat by plane for Ada (2 stops)"),
        "{}",
        ok.body
    );
    assert!(ok.body.contains("1 credit used"), "singular: {}", ok.body);
    // The form is filled as sent, to change and run again.
    assert!(ok.body.contains("value=\"Hoi An\""), "{}", ok.body);
    // Reloading it runs nothing again (the journal answers).
    let calls_after_run = f.engine_calls();
    let reloaded = web.get(&result_url).await;
    assert_eq!(reloaded.status, StatusCode::OK);
    assert!(reloaded.body.contains("Da Lat"), "{}", reloaded.body);
    assert_eq!(f.engine_calls(), calls_after_run);
    let sent = f.last_engine_body();
    assert_eq!(
        sent["form"],
        json!({"destination": "Da Lat", "mode": "plane", "traveler": {"name": "Ada", "age": 36}, "stops": ["Hue", "Hoi An"]})
    );
    assert_eq!(sent["overrideConfig"]["openAIApiKey"], "sk-ada-secret-77");
    let rows = f.rows_of(&ada).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ExecutionStatus::Success);
    let history = web.get("/app/history").await;
    assert!(history.body.contains(&rows[0].id.to_string()));
    // The agent's name, not its tool name; a status people read; a time
    // the page's script shows in the reader's zone.
    assert!(
        history.body.contains("<td>Trip planner</td>"),
        "{}",
        history.body
    );
    assert!(history.body.contains(">Done<"), "{}", history.body);
    assert!(history.body.contains("<time datetime=\""));
    let detail = web.get(&format!("/app/history/{}", rows[0].id)).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.body.contains("Da Lat"));
    // "Change and run again": the form filled with that call's arguments.
    let again = format!("/app/tools/trip_planner?run={}", rows[0].id);
    assert!(detail.body.contains(&again), "{}", detail.body);
    let refill = web.get(&again).await;
    assert!(refill.body.contains("value=\"Hoi An\""), "{}", refill.body);
    assert!(
        refill
            .body
            .contains("<option value=\"#1\" selected>plane</option>"),
        "{}",
        refill.body
    );
    let credits = web.get("/app/credits").await;
    assert!(credits.body.contains("id=\"balance\""), "{}", credits.body);

    // The stored key never appears in a page.
    for page in [&tools, &form, &bad, &ok, &history, &detail, &credits] {
        assert!(!page.body.contains("sk-ada-secret-77"));
    }

    // Another user sees none of Ada's rows, and cannot open one.
    let mut bob_web = Browserless::new(&f.base());
    bob_web.sign_in(&bob_key).await;
    let theirs = bob_web.get("/app/history").await;
    assert!(!theirs.body.contains(&rows[0].id.to_string()));
    let stolen = bob_web.get(&format!("/app/history/{}", rows[0].id)).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    assert!(!stolen.body.contains("Da Lat"));
    // Bob's tool page says which key is missing; running it says so too.
    let bob_tools = bob_web.get("/app/tools").await;
    assert!(
        bob_tools.body.contains("Connect openai"),
        "{}",
        bob_tools.body
    );

    let form = bob_web.get("/app/tools/trip_planner").await;
    let missing = bob_web
        .post_and_follow(
            "/app/tools/trip_planner",
            &[
                ("_csrf", &form.csrf()),
                ("/destination", "Hue"),
                ("/mode", "#2"),
                ("/traveler/name", "Bob"),
            ],
        )
        .await;
    assert!(
        missing.body.contains("A key is missing"),
        "{}",
        missing.body
    );
    assert!(
        missing
            .body
            .contains("/app/credentials?provider=openai#add")
    );

    // Credentials through the page: stored, listed, never shown back; a
    // post without the token changes nothing.
    let page = bob_web.get("/app/credentials?provider=openai").await;
    let csrf = page.csrf();
    let forged = bob_web
        .post(
            "/app/credentials",
            &[("provider", "openai"), ("value", "sk-forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let saved = bob_web
        .post_and_follow(
            "/app/credentials",
            &[
                ("_csrf", &csrf),
                ("provider", "openai"),
                ("key_name", ""),
                ("value", "sk-bob-9999"),
            ],
        )
        .await;
    assert!(
        saved.body.contains("Saved your openai key"),
        "{}",
        saved.body
    );
    assert!(!saved.body.contains("sk-bob-9999"));
    // A forged "saved" notice for a key that is not stored is not shown.
    let fake = bob_web
        .get("/app/credentials?saved=anthropic&name=default")
        .await;
    assert!(!fake.body.contains("Saved your"), "{}", fake.body);
    let bad_provider = bob_web
        .post_and_follow(
            "/app/credentials",
            &[("_csrf", &csrf), ("provider", "no spaces!"), ("value", "x")],
        )
        .await;
    assert_eq!(bad_provider.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_provider.body.contains("Use lowercase letters"),
        "{}",
        bad_provider.body
    );
    assert!(
        !bad_provider.body.contains("^[a-z"),
        "no regular expression"
    );
    assert!(bad_provider.body.contains("value=\"no spaces!\""), "kept");

    // Deleting asks first; the confirmed delete redirects.
    // The list's Delete opens the question as a page of its own (a GET), so
    // Back from the list afterwards never lands on a posted form.
    let list = bob_web.get("/app/credentials").await;
    assert!(
        list.body
            .contains("<form method=\"get\" action=\"/app/credentials/delete\">"),
        "{}",
        list.body
    );
    let asked = bob_web
        .get("/app/credentials/delete?provider=openai&key_name=default")
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    // A post without the confirmation is sent to the question too.
    let unconfirmed = bob_web
        .post(
            "/app/credentials/delete",
            &[
                ("_csrf", &list.csrf()),
                ("provider", "openai"),
                ("key_name", "default"),
            ],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::SEE_OTHER);
    assert!(
        unconfirmed
            .location()
            .starts_with("/app/credentials/delete?provider=openai")
    );
    assert!(asked.body.contains("Delete this key?"), "{}", asked.body);
    let bob_id = f
        .store
        .get_user_by_email("bob@example.com")
        .await
        .expect("get")
        .expect("bob")
        .id;
    let vault = f.app.db.vault(&f.store).await;
    assert_eq!(
        vault.list(bob_id).await.expect("list").len(),
        1,
        "not yet deleted"
    );
    let csrf = asked.csrf();
    let deleted = bob_web
        .post(
            "/app/credentials/delete",
            &[
                ("_csrf", &csrf),
                ("provider", "openai"),
                ("key_name", "default"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let after = bob_web.get(deleted.location()).await;
    assert!(
        after.body.contains("Deleted your openai key"),
        "{}",
        after.body
    );
    assert!(vault.list(bob_id).await.expect("list").is_empty());

    // Sign out ends the session on the server, not only in the browser.
    let csrf = csrf_of(&mut web).await;
    let signed_out = web.post("/app/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(signed_out.location(), "/app/login");
    let mut replay = Browserless::new(&f.base());
    replay
        .cookies
        .insert("vieagent_session".into(), session_cookie);
    let page = replay.get("/app/tools").await;
    assert_eq!(page.location(), "/app/login", "the old cookie is dead");
}

async fn csrf_of(web: &mut Browserless) -> String {
    web.get("/app/tools").await.csrf()
}

async fn connect_link_from_a_failed_call_stores_the_key_once(backend: Backend) {
    let f = WebFixture::new(backend, |_| {}).await;
    let (carol, carol_key) = f.user("carol@example.com", None).await;
    let (_ada, ada_key) = f.user("ada@example.com", Some("sk-ada-1")).await;
    let (client, _) = connect_http(&f.base(), &carol_key, Protocol::Session).await;
    let args = json!({"destination": "Hue", "mode": "bike", "traveler": {"name": "Carol"}});
    let r = call(&client, "trip_planner", args.clone()).await;
    assert_eq!(r.is_error, Some(true));
    let error = &r.structured_content.as_ref().expect("structured")["error"];
    let link = error["connect_url"].as_str().expect("link").to_string();
    assert!(text_of(&r).contains(&link));
    let token = link.split("token=").nth(1).expect("token").to_string();

    // Tampered: refused clearly, nothing stored.
    let mut web = Browserless::new(&f.base());
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let page = web.get(&format!("/app/connect?token={tampered}")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("This link is not valid"),
        "{}",
        page.body
    );
    let page = web.get("/app/connect?token=garbage").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // Opened in a browser signed in as someone else: refused.
    let mut ada_web = Browserless::new(&f.base());
    ada_web.sign_in(&ada_key).await;
    let page = ada_web.get(&link).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("another account"));

    // The real page: for Carol's account, a field per missing provider.
    let page = web.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("carol@example.com"));
    assert!(page.body.contains("name=\"key:openai\""));
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let csrf = page.csrf();
    let forged = web
        .post(
            "/app/connect",
            &[("token", &token), ("key:openai", "sk-forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let empty = web
        .post_and_follow(
            "/app/connect",
            &[("_csrf", &csrf), ("token", &token), ("key:openai", "")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains("Paste your openai key."),
        "{}",
        empty.body
    );
    let saved = web
        .post(
            "/app/connect",
            &[
                ("_csrf", &csrf),
                ("token", &token),
                ("key:openai", "sk-carol-4242"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let saved = web.get(saved.location()).await;
    assert!(saved.body.contains("run the tool again"), "{}", saved.body);
    assert!(!saved.body.contains("sk-carol-4242"));

    // Reused: refused, and the stored key stays the first one.
    let reused = web
        .post(
            "/app/connect",
            &[
                ("_csrf", &csrf),
                ("token", &token),
                ("key:openai", "sk-carol-evil"),
            ],
        )
        .await;
    assert_eq!(reused.status, StatusCode::GONE);
    assert!(reused.body.contains("already used"));
    assert_eq!(web.get(&link).await.status, StatusCode::GONE);

    // The call now succeeds over MCP with the key from the browser.
    let r = call(&client, "trip_planner", args).await;
    assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
    assert_eq!(
        f.last_engine_body()["overrideConfig"]["openAIApiKey"],
        "sk-carol-4242"
    );
    let audit = f.store.list_audit(None, 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "connect-link:carol@example.com" && e.action == "credential.put")
    );
    let rows = f.rows_of(&carol).await;
    assert_eq!(
        rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![ExecutionStatus::Success, ExecutionStatus::Failed]
    );
    assert!(
        rows.iter()
            .all(|r| !r.error.clone().unwrap_or_default().contains("token="))
    );
}

#[tokio::test]
async fn an_expired_connect_link_is_refused_and_stores_nothing() {
    const LINK_TTL: Duration = Duration::from_secs(5);
    let f = WebFixture::new(Backend::Sqlite, |c| {
        c.web.connect_link_ttl = LINK_TTL;
    })
    .await;
    let (dan, dan_key) = f.user("dan@example.com", None).await;
    let (client, _) = connect_http(&f.base(), &dan_key, Protocol::Session).await;
    // The link is minted during the call, so it expires no later than
    // LINK_TTL after the call returned: sleeping until then (rather than a
    // fixed time after the page load) makes the test independent of how
    // slow the machine is, and the TTL leaves the page load ample time.
    let r = call(
        &client,
        "trip_planner",
        json!({"destination": "Hue", "mode": "bike", "traveler": {"name": "Dan"}}),
    )
    .await;
    let link = r.structured_content.as_ref().expect("structured")["error"]["connect_url"]
        .as_str()
        .expect("link")
        .to_string();
    let expired_by = tokio::time::Instant::now() + LINK_TTL + Duration::from_millis(200);
    let mut web = Browserless::new(&f.base());
    let page = web.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    tokio::time::sleep_until(expired_by).await;
    let token = link.split("token=").nth(1).expect("token");
    let late = web
        .post(
            "/app/connect",
            &[
                ("_csrf", &csrf),
                ("token", token),
                ("key:openai", "sk-late"),
            ],
        )
        .await;
    assert_eq!(late.status, StatusCode::GONE);
    assert!(late.body.contains("expired"), "{}", late.body);
    assert!(
        f.app
            .db
            .vault(&f.store)
            .await
            .list(dan.id)
            .await
            .expect("list")
            .is_empty()
    );
}

/// An MCP client that supports URL elicitation and plays the user: on a
/// URL request it opens the page and stores `key` (or declines).
#[derive(Clone)]
struct ElicitingUser {
    base: String,
    key: Option<String>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for ElicitingUser {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::UrlElicitationParams { url, message, .. } = request else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        self.asked
            .lock()
            .expect("lock")
            .push(format!("{message} {url}"));
        let Some(key) = self.key.clone() else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        // The user opens the page after accepting: in the background.
        let base = self.base.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut web = Browserless::new(&base);
            let page = web.get(&url).await;
            let csrf = page.csrf();
            let token = url.split("token=").nth(1).unwrap_or_default().to_string();
            let saved = web
                .post(
                    "/app/connect",
                    &[("_csrf", &csrf), ("token", &token), ("key:openai", &key)],
                )
                .await;
            assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        });
        Ok(ElicitResult::new(ElicitationAction::Accept))
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_elicitation_with(
                    ElicitationCapability::new().with_url(UrlElicitationCapability::new()),
                )
                .build(),
            Implementation::new("vieagent-eliciting-tests", "1"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }
}

async fn call_as(
    client: &rmcp::service::RunningService<RoleClient, ElicitingUser>,
    tool: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(tool.to_string())
                .with_arguments(crate::mcp_client::args(arguments)),
        )
        .await
        .expect("tools/call answered")
}

#[tokio::test]
async fn url_elicitation_continues_the_call_once_the_key_is_stored() {
    let f = WebFixture::new(Backend::Sqlite, |c| {
        c.web.elicitation_wait = Duration::from_secs(20);
    })
    .await;
    let (erin, erin_key) = f.user("erin@example.com", None).await;
    let user = ElicitingUser {
        base: f.base(),
        key: Some("sk-erin-5150".into()),
        asked: Arc::default(),
    };
    let client = user
        .clone()
        .serve(transport(&f.base(), &erin_key))
        .await
        .expect("connect");
    let args = json!({"destination": "Hue", "mode": "train", "traveler": {"name": "Erin"}});
    let r = call_as(&client, "trip_planner", args.clone()).await;
    assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
    assert!(text_of(&r).contains("for Erin"));
    assert_eq!(
        f.last_engine_body()["overrideConfig"]["openAIApiKey"],
        "sk-erin-5150"
    );
    let asked = user.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].contains("/app/connect?token="), "{asked:?}");
    assert!(
        !asked[0].contains("sk-erin"),
        "the key never travels over MCP"
    );
    let rows = f.rows_of(&erin).await;
    assert_eq!(
        rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![ExecutionStatus::Success, ExecutionStatus::Failed]
    );

    // A user who declines: the same tool error as without elicitation.
    let (_frank, frank_key) = f.user("frank@example.com", None).await;
    let decliner = ElicitingUser {
        base: f.base(),
        key: None,
        asked: Arc::default(),
    };
    let client = decliner
        .clone()
        .serve(transport(&f.base(), &frank_key))
        .await
        .expect("connect");
    let r = call_as(&client, "trip_planner", args).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("needs your credentials for: openai"));
    assert_eq!(decliner.asked.lock().expect("lock").len(), 1);
}

/// A key replaced by another process (another replica, the CLI) is used by
/// the next call here too: PostgreSQL notifies every process, whose row
/// cache forgets that user's rows (the cache would otherwise keep the old
/// key for `auth_cache_ttl`, set to an hour here).
#[tokio::test]
async fn a_key_replaced_elsewhere_is_used_at_once_on_postgres() {
    let f = WebFixture::new(Backend::Postgres, |c| {
        c.auth_cache_ttl = Duration::from_secs(3600);
    })
    .await;
    let (gina, gina_key) = f.user("gina@example.com", Some("sk-gina-old")).await;
    let (client, _) = connect_http(&f.base(), &gina_key, Protocol::Session).await;
    let args = json!({"destination": "Hue", "mode": "train", "traveler": {"name": "Gina"}});
    call(&client, "trip_planner", args.clone()).await;
    assert_eq!(
        f.last_engine_body()["overrideConfig"]["openAIApiKey"],
        "sk-gina-old"
    );
    // "Another process": a Vault of its own on the same database.
    f.app
        .db
        .vault(&f.store)
        .await
        .put(
            &gina,
            "openai",
            "default",
            &SecretString::from("sk-gina-new"),
        )
        .await
        .expect("replace");
    let mut used = Value::Null;
    for _ in 0..50 {
        call(&client, "trip_planner", args.clone()).await;
        used = f.last_engine_body()["overrideConfig"]["openAIApiKey"].clone();
        if used == "sk-gina-new" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        used, "sk-gina-new",
        "the notification reached the server's Vault"
    );
}

/// Pages speak the browser's language (Vietnamese or English), the person
/// can switch (kept by a cookie), and `web.default_locale` decides for a
/// browser that asks for neither.
#[tokio::test]
async fn easy_mode_speaks_vietnamese_and_english() {
    let f = WebFixture::new(Backend::Sqlite, |_| {}).await;
    let (_ada, ada_key) = f.user("ada@example.com", Some("sk-ada-vi-1")).await;

    // A Vietnamese browser: Vietnamese pages, messages and plurals.
    let mut web = Browserless::vietnamese(&f.base());
    let login = web.get("/app/login").await;
    assert!(login.body.contains("<html lang=\"vi\">"), "{}", login.body);
    assert!(login.body.contains("Đăng nhập"));
    web.sign_in(&ada_key).await;
    let tools = web.get("/app/tools").await;
    assert!(tools.body.contains("Công cụ của bạn"), "{}", tools.body);
    assert!(
        tools.body.contains("1 tín dụng mỗi lần chạy"),
        "{}",
        tools.body
    );
    // The author's words stay as written.
    assert!(tools.body.contains("Trip planner"));
    let form = web.get("/app/tools/trip_planner").await;
    let csrf = form.csrf();
    let bad = web
        .post_and_follow(
            "/app/tools/trip_planner",
            &[
                ("_csrf", &csrf),
                ("/destination", "X"),
                ("/traveler/age", "200"),
            ],
        )
        .await;
    assert!(bad.body.contains("Có lỗi cần sửa"), "{}", bad.body);
    assert!(
        bad.body.contains("Hãy nhập ít nhất 2 ký tự."),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("Hãy nhập số nguyên từ 0 đến 130."));

    // Switching to English: a redirect back, kept for the next pages.
    let switched = web.get("/app/lang/en?next=/app/tools/trip_planner").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location(), "/app/tools/trip_planner");
    let form = web.get("/app/tools/trip_planner").await;
    assert!(form.body.contains("<html lang=\"en\">"));
    assert!(
        form.body.contains("Fields marked * are required."),
        "{}",
        form.body
    );
    // The switcher never sends anyone to another site.
    let away = web.get("/app/lang/vi?next=//evil.example/x").await;
    assert_eq!(away.location(), "/app");
    let away = web.get("/app/lang/vi?next=https://evil.example/").await;
    assert_eq!(away.location(), "/app");

    // No language asked for: the configured default.
    for (default, expected) in [("vi", "lang=\"vi\""), ("en", "lang=\"en\"")] {
        let f = WebFixture::new(Backend::Sqlite, |c| c.web.default_locale = default.into()).await;
        let page = reqwest::get(format!("{}/app/login", f.base()))
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        assert!(page.contains(expected), "{default}: {page}");
    }
}

/// A run the gateway refuses (a priced tool not bought) reads as a sentence
/// in the reader's language, and never shows the buyer an admin command.
#[tokio::test]
async fn a_refused_run_is_a_sentence_without_admin_commands() {
    let f = WebFixture::new(Backend::Sqlite, |_| {}).await;
    let priced = NewAgent {
        name: "Premium trip planner".into(),
        tool_name: "premium_trip".into(),
        price_monthly: Some(rust_decimal::Decimal::new(999, 2)),
        ..trip_agent()
    };
    f.store.create_agent(&priced).await.expect("agent");
    let (_ada, ada_key) = f.user("ada@example.com", Some("sk-ada-priced-1")).await;
    let mut web = Browserless::new(&f.base());
    web.sign_in(&ada_key).await;
    let mut form = web.get("/app/tools/premium_trip").await;
    for _ in 0..100 {
        if form.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        form = web.get("/app/tools/premium_trip").await;
    }
    assert!(form.body.contains("9.99 USD a month"), "{}", form.body);
    assert!(
        form.body.contains("you have not bought it yet"),
        "{}",
        form.body
    );
    let before = f.engine_calls();
    let refused = web
        .post_and_follow(
            "/app/tools/premium_trip",
            &[
                ("_csrf", &form.csrf()),
                ("/destination", "Hue"),
                ("/mode", "#0"),
                ("/traveler/name", "Ada"),
            ],
        )
        .await;
    assert!(
        refused
            .body
            .contains("This tool is priced and you have not bought it."),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("vieagent "),
        "no admin command: {}",
        refused.body
    );
    assert!(!refused.body.contains("entitlements"), "{}", refused.body);
    assert_eq!(f.engine_calls(), before);
}

/// Text as the page shows it (maud escapes `"`, `<`, `>`, `&`).
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of the element with this id (the first `>` after it to the
/// next `<`), unescaped.
fn text_of_id(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let start = at + body[at..].find('>')? + 1;
    let end = start + body[start..].find('<')?;
    Some(unescape(&body[start..end]))
}

/// The hidden fields and CSRF token of the create-key form.
fn create_form(page: &Page) -> (String, String) {
    let marker = "name=\"form_id\" value=\"";
    let start = page.body.find(marker).expect("the create form") + marker.len();
    let end = page.body[start..].find('"').expect("quote");
    (page.csrf(), page.body[start..start + end].to_string())
}

/// `/app/api-keys`: a key made in the browser is shown once (in the POST's
/// answer, never again: not on the list, not on reload), works for MCP and
/// for signing in, and stops at once when revoked there (the auth cache is
/// an hour long here: revoking clears it). Another user's key cannot be
/// revoked. `/app/assistants` has each client's setup with the public URL
/// and no key. Both languages.
async fn own_api_keys_shown_once_used_and_revoked(backend: Backend) {
    let f = WebFixture::new(backend, |c| {
        c.auth_cache_ttl = Duration::from_secs(3600);
        c.public_url = Some("https://gateway.example.com".parse().expect("url"));
    })
    .await;
    let (ada, ada_key) = f.user("ada@example.com", Some("sk-ada-keys-1")).await;
    let (bob, bob_key) = f.user("bob@example.com", None).await;
    let mut web = Browserless::new(&f.base());
    web.sign_in(&ada_key).await;

    // The list: the key she signed in with, by its prefix only.
    let list = web.get("/app/api-keys").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("<h1>API keys</h1>"), "{}", list.body);
    assert!(list.body.contains(&ada_key[..12]), "{}", list.body);
    assert!(!list.body.contains(&ada_key), "never the whole key");
    assert!(list.body.contains("Last used"), "{}", list.body);

    // Mistakes: a redirect, then the form with them; nothing made.
    let (csrf, form_id) = create_form(&list);
    let forged = web
        .post("/app/api-keys", &[("form_id", &form_id), ("name", "x")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token");
    let empty = web
        .post_and_follow(
            "/app/api-keys",
            &[("_csrf", &csrf), ("form_id", &form_id), ("name", "  ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains("Enter a name for the key"),
        "{}",
        empty.body
    );
    assert!(
        empty.body.contains("<title>Error: API keys"),
        "{}",
        empty.body
    );
    let long = "x".repeat(41);
    let too_long = web
        .post_and_follow(
            "/app/api-keys",
            &[("_csrf", &csrf), ("form_id", &form_id), ("name", &long)],
        )
        .await;
    assert!(
        too_long.body.contains("at most 40 characters"),
        "{}",
        too_long.body
    );
    assert_eq!(f.store.list_api_keys(ada.id).await.expect("keys").len(), 1);

    // Made: the key in this answer (not a redirect), not cacheable.
    let fresh = web.get("/app/api-keys").await;
    let (csrf, form_id) = create_form(&fresh);
    let form = [
        ("_csrf", csrf.as_str()),
        ("form_id", form_id.as_str()),
        ("name", "Cursor <laptop>"),
    ];
    let created = web.post("/app/api-keys", &form).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    assert!(created.location().is_empty());
    let key = text_of_id(&created.body, "new-key").expect("the new key");
    assert!(key.starts_with("vak_") && key.len() == 44, "{key}");
    assert!(created.body.contains("Cursor &lt;laptop&gt;"), "escaped");
    assert!(created.body.contains("data-copy=\"Copy\""), "a copy button");
    let keys = f.store.list_api_keys(ada.id).await.expect("keys");
    assert_eq!(keys.len(), 2);
    let made = keys
        .iter()
        .find(|k| k.name == "Cursor <laptop>")
        .expect("the new key's row");
    assert!(key.starts_with(&made.prefix));
    // Sent again (reload, Back): no second key, and the key is not shown.
    let again = web.post_and_follow("/app/api-keys", &form).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("already been sent"), "{}", again.body);
    assert!(!again.body.contains(&key));
    assert_eq!(f.store.list_api_keys(ada.id).await.expect("keys").len(), 2);
    // One form sent several times at once (a double click): one key.
    let (csrf, form_id) = create_form(&web.get("/app/api-keys").await);
    let sends = (0..6).map(|_| {
        let mut tab = Browserless::new(&f.base());
        tab.cookies = web.cookies.clone();
        let (csrf, form_id) = (csrf.clone(), form_id.clone());
        async move {
            tab.post(
                "/app/api-keys",
                &[("_csrf", &csrf), ("form_id", &form_id), ("name", "Twice")],
            )
            .await
            .status
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SEE_OTHER)
    );
    let keys = f.store.list_api_keys(ada.id).await.expect("keys");
    assert_eq!(keys.iter().filter(|k| k.name == "Twice").count(), 1);
    let twice = keys.iter().find(|k| k.name == "Twice").expect("twice");
    vieagent::accounts::revoke_key(f.store.as_ref(), &twice.id.to_string())
        .await
        .expect("revoke");
    // The list: its name and prefix, never the key.
    let list = web.get("/app/api-keys").await;
    assert!(list.body.contains("Cursor &lt;laptop&gt;"));
    assert!(list.body.contains(&made.prefix));
    assert!(!list.body.contains(&key), "shown once only");

    // It works: MCP, and signing in to the app.
    let (client, _) = connect_http(&f.base(), &key, Protocol::Session).await;
    let args = json!({"destination": "Hue", "mode": "train", "traveler": {"name": "An"}});
    let r = call(&client, "trip_planner", args.clone()).await;
    assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
    let mut other_browser = Browserless::new(&f.base());
    other_browser.sign_in(&key).await;
    assert_eq!(
        other_browser.get("/app/api-keys").await.status,
        StatusCode::OK
    );

    // Another user's key: 404 on the question and on the post; still live.
    let bob_keys = f.store.list_api_keys(bob.id).await.expect("keys");
    let bob_key_id = bob_keys[0].id.to_string();
    let csrf = csrf_of(&mut web).await;
    let question = web
        .get(&format!("/app/api-keys/revoke?id={bob_key_id}"))
        .await;
    assert_eq!(question.status, StatusCode::NOT_FOUND);
    assert!(!question.body.contains(&bob_keys[0].prefix));
    let refused = web
        .post(
            "/app/api-keys/revoke",
            &[("_csrf", &csrf), ("id", &bob_key_id), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    for id in ["not-a-uuid", &Uuid::new_v4().to_string()] {
        let r = web
            .post(
                "/app/api-keys/revoke",
                &[("_csrf", &csrf), ("id", id), ("confirm", "yes")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
    }
    assert!(
        f.store
            .get_api_key(bob_keys[0].id)
            .await
            .expect("get")
            .expect("bob's key")
            .revoked_at
            .is_none()
    );
    let (bob_client, _) = connect_http(&f.base(), &bob_key, Protocol::Session).await;
    bob_client.cancel().await.expect("close");

    // Revoke hers: asked first (a page of its own), then refused at once.
    let made_id = made.id.to_string();
    let unconfirmed = web
        .post(
            "/app/api-keys/revoke",
            &[("_csrf", &csrf), ("id", &made_id)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        unconfirmed.location(),
        format!("/app/api-keys/revoke?id={made_id}")
    );
    let question = web.get(unconfirmed.location()).await;
    assert_eq!(question.status, StatusCode::OK);
    assert!(
        question.body.contains("Revoke this key?"),
        "{}",
        question.body
    );
    let csrf = question.csrf();
    let revoked = web
        .post_and_follow(
            "/app/api-keys/revoke",
            &[("_csrf", &csrf), ("id", &made_id), ("confirm", "yes")],
        )
        .await;
    assert!(
        revoked.body.contains("is revoked: it no longer works"),
        "{}",
        revoked.body
    );
    assert!(revoked.body.contains("2 revoked keys"), "{}", revoked.body);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let mcp = f
        .app
        .http
        .post(f.app.url("/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .expect("post");
    assert_eq!(mcp.status(), 401, "the revoked key is refused at once");
    // The session it opened is refused too (its next request).
    assert!(
        client
            .call_tool(rmcp::model::CallToolRequestParams::new("trip_planner"))
            .await
            .is_err(),
        "the revoked key's session"
    );
    // Revoking again (Back, another tab): the same page, nothing more.
    let twice = web
        .post(
            "/app/api-keys/revoke",
            &[("_csrf", &csrf), ("id", &made_id), ("confirm", "yes")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::SEE_OTHER);
    // Her other key still works.
    let (still, _) = connect_http(&f.base(), &ada_key, Protocol::Session).await;
    still.cancel().await.expect("close");

    // Audited as done in the web app, without the key.
    let audit = f.store.list_audit(None, 50).await.expect("audit");
    let mine: Vec<_> = audit
        .iter()
        .filter(|e| {
            e.actor == "web:ada@example.com" && e.target_id.as_deref() == Some(made_id.as_str())
        })
        .map(|e| (e.action.as_str(), e.target_id.clone()))
        .collect();
    assert_eq!(
        mine,
        vec![
            ("key.revoke", Some(made_id.clone())),
            ("key.create", Some(made_id.clone()))
        ]
    );
    assert!(!format!("{audit:?}").contains(&key));

    // The limit: 20 live keys; then a clear message and no form.
    for i in 1..20 {
        vieagent::accounts::create_key(f.store.as_ref(), ada.id, &format!("k{i}"))
            .await
            .expect("key");
    }
    let full = web.get("/app/api-keys").await;
    assert!(
        full.body
            .contains("You have 20 keys, the most you can have at once"),
        "{}",
        full.body
    );
    assert!(!full.body.contains("name=\"form_id\""));
    let over = web
        .post_and_follow(
            "/app/api-keys",
            &[
                ("_csrf", &full.csrf()),
                ("form_id", &Uuid::new_v4().to_string()),
                ("name", "one more"),
            ],
        )
        .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(over.body.contains("Revoke one you no longer use"));
    assert_eq!(
        f.store
            .list_api_keys(ada.id)
            .await
            .expect("keys")
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count(),
        20
    );

    // Connect your assistant: the public URL, each client's setup, a
    // placeholder for the key and a link to make one, never a key.
    let page = web.get("/app/assistants").await;
    assert_eq!(page.status, StatusCode::OK);
    let mcp_url = "https://gateway.example.com/mcp";
    assert_eq!(text_of_id(&page.body, "mcp-url").as_deref(), Some(mcp_url));
    let code = text_of_id(&page.body, "setup-claude-code").expect("Claude Code");
    assert_eq!(
        code,
        format!(
            "claude mcp add --transport http vieagent {mcp_url} --header \"Authorization: Bearer <your API key>\""
        )
    );
    let cursor: Value =
        serde_json::from_str(&text_of_id(&page.body, "setup-cursor").expect("Cursor"))
            .expect("JSON");
    assert_eq!(
        cursor,
        json!({"mcpServers": {"vieagent": {"url": mcp_url, "headers": {"Authorization": "Bearer <your API key>"}}}})
    );
    let vscode: Value =
        serde_json::from_str(&text_of_id(&page.body, "setup-vscode").expect("VS Code"))
            .expect("JSON");
    assert_eq!(
        vscode,
        json!({"servers": {"vieagent": {"type": "http", "url": mcp_url, "headers": {"Authorization": "Bearer <your API key>"}}}})
    );
    let desktop: Value = serde_json::from_str(
        &text_of_id(&page.body, "setup-claude-desktop").expect("Claude Desktop"),
    )
    .expect("JSON");
    assert_eq!(desktop["mcpServers"]["vieagent"]["args"], json!(["stdio"]));
    assert_eq!(
        desktop["mcpServers"]["vieagent"]["env"]["VIEAGENT_API_KEY"],
        "<your API key>"
    );
    assert!(page.body.contains("href=\"/app/api-keys\""));
    assert!(
        page.body
            .contains("does not offer sign-in for Claude.ai and ChatGPT"),
        "no OAuth configured: said so"
    );
    assert!(!page.body.contains("vak_"), "never a key on this page");

    // Vietnamese.
    let mut vi = Browserless::vietnamese(&f.base());
    vi.sign_in(&bob_key).await;
    let keys_vi = vi.get("/app/api-keys").await;
    assert!(keys_vi.body.contains("<html lang=\"vi\">"));
    assert!(keys_vi.body.contains("Tạo khóa mới"), "{}", keys_vi.body);
    assert!(keys_vi.body.contains("Dùng lần cuối"), "{}", keys_vi.body);
    let (csrf, form_id) = create_form(&keys_vi);
    let created_vi = vi
        .post(
            "/app/api-keys",
            &[
                ("_csrf", &csrf),
                ("form_id", &form_id),
                ("name", "Máy ở nhà"),
            ],
        )
        .await;
    assert_eq!(created_vi.status, StatusCode::OK);
    assert!(created_vi.body.contains("Khóa API mới của bạn"));
    assert!(created_vi.body.contains("data-copy=\"Sao chép\""));
    let assistants_vi = vi.get("/app/assistants").await;
    assert!(assistants_vi.body.contains("Kết nối trợ lý"));
    let cursor_vi = text_of_id(&assistants_vi.body, "setup-cursor").expect("Cursor");
    assert!(
        cursor_vi.contains("Bearer <khóa API của bạn>"),
        "{cursor_vi}"
    );
    assert!(
        assistants_vi
            .body
            .contains("Cổng này chưa hỗ trợ đăng nhập")
    );

    // Signed out: sign-in first.
    let mut nobody = Browserless::new(&f.base());
    for path in ["/app/api-keys", "/app/assistants"] {
        assert_eq!(nobody.get(path).await.location(), "/app/login", "{path}");
    }
}
