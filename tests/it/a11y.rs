//! Accessibility, measured: axe-core (npm, pinned in `tests/a11y`) injected
//! into every page of the Easy Mode web app in a real Chromium, at a desktop
//! and a phone width, in each language (the marketplace's pages, with the
//! toolbox's buttons, in a test of their own). No page may have a `serious` or
//! `critical` violation of WCAG 2.0/2.1 A and AA or axe's best practices.
//!
//! Needs what `browser.rs` needs (Debian's `chromium` and `chromium-driver`)
//! and `npm ci --prefix tests/a11y` (`.ci/run` does both). Without axe the
//! test fails; it never skips. One backend is enough: the pages are the same
//! HTML over either store.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde::Deserialize;
use serde_json::{Value, json};
use vieagent::config::ToolboxMode;
use vieagent::store::{AgentStatus, EngineType, NewAgent};
use vieagent::web::form::field_id;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::browser::{browser, chromedriver};
use crate::helpers::{Backend, TestApp, TestDb};
use crate::mcp_client::{Protocol, call, connect_http};
use crate::web::form_flowise;
use crate::web_catalog::market;

/// Window sizes: desktop and phone.
const WIDTHS: &[(u32, u32)] = &[(1280, 900), (375, 812)];

/// The languages every page is checked in. Any but `en` (Chromium's own)
/// is chosen through the switcher's `GET /app/lang/{lang}?next=…` (a
/// cookie).
const LANGUAGES: &[&str] = &["en", "vi"];

/// The axe rule sets run: WCAG 2.0 and 2.1, A and AA, and best practices.
const AXE_TAGS: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/// Where `npm ci --prefix tests/a11y` puts axe.
const AXE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/a11y/node_modules/axe-core/axe.min.js"
);

/// One axe rule a page breaks, with the elements that break it.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    #[serde(default)]
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl", default)]
    pub help_url: String,
    #[serde(default)]
    pub nodes: Vec<ViolationNode>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViolationNode {
    /// CSS selectors (an array of them for an element inside a shadow root
    /// or frame).
    #[serde(default)]
    pub target: Vec<Value>,
    #[serde(default)]
    pub html: String,
    #[serde(rename = "failureSummary", default)]
    pub failure_summary: Option<String>,
}

impl Violation {
    fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

/// axe's source, read once; a missing file fails the test with what to run.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        std::fs::read_to_string(AXE_PATH).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing ({AXE_PATH}: {e}).\n\
                 Install the pinned version with: npm ci --prefix tests/a11y"
            )
        })
    })
}

/// Every violation axe finds in the current page, whatever its impact.
pub async fn axe_all(client: &Client) -> Vec<Violation> {
    // WebDriver's Execute Script is not subject to the page's CSP
    // (`script-src 'self'`); a <script> element carrying axe would be.
    let loaded = client
        .execute(
            &format!("{}\n;return typeof window.axe === 'object';", axe_source()),
            vec![],
        )
        .await
        .expect("inject axe-core");
    assert_eq!(loaded, json!(true), "axe-core did not load into the page");
    let result = client
        .execute_async(
            r#"
            const [tags, done] = arguments;
            axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
              .then(r => done({violations: r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                  nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary}))
              }))}))
              .catch(e => done({error: String(e && e.stack || e)}));
            "#,
            vec![json!(AXE_TAGS)],
        )
        .await
        .expect("run axe");
    if let Some(error) = result.get("error") {
        panic!("axe.run failed: {error}");
    }
    serde_json::from_value(result["violations"].clone()).expect("axe's violations")
}

/// The `serious` and `critical` violations in the current page (the lesser
/// ones are printed, for information).
pub async fn axe_violations(client: &Client) -> Vec<Violation> {
    let (serious, lesser): (Vec<_>, Vec<_>) = axe_all(client)
        .await
        .into_iter()
        .partition(Violation::is_serious);
    if !lesser.is_empty() {
        let url = client.current_url().await.map(|u| u.to_string());
        for v in &lesser {
            eprintln!(
                "axe (not failing) {}: {} ({}) on {} element(s): {}",
                url.as_deref().unwrap_or("?"),
                v.id,
                v.impact.as_deref().unwrap_or("?"),
                v.nodes.len(),
                v.help
            );
        }
    }
    serious
}

/// A tool whose form has every kind of field: a required string with
/// bounds and help, a bounded integer, an enum, a boolean, a nested object,
/// an array of objects, a long text and a free JSON value.
fn report_agent() -> NewAgent {
    NewAgent {
        name: "Report writer".into(),
        tool_name: "report_writer".into(),
        description: "Writes a short report from your sources".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "topic": {"type": "string", "title": "Topic", "minLength": 3, "maxLength": 80,
                          "description": "What the report is about"},
                "pages": {"type": "integer", "title": "Pages", "minimum": 1, "maximum": 20, "default": 3},
                "tone": {"type": "string", "title": "Tone", "enum": ["neutral", "friendly", "formal"]},
                "draft": {"type": "boolean", "title": "Draft only", "description": "Skip the final polish"},
                "audience": {"type": "object", "title": "Audience", "required": ["name"],
                             "description": "Who reads it",
                             "properties": {
                                 "name": {"type": "string", "title": "Name", "maxLength": 60},
                                 "size": {"type": "integer", "title": "Size", "minimum": 1}
                             }},
                "sources": {"type": "array", "title": "Source", "items": {
                    "type": "object", "title": "Source", "required": ["url"], "properties": {
                        "url": {"type": "string", "title": "Address", "format": "uri", "maxLength": 200},
                        "weight": {"type": "number", "title": "Weight", "minimum": 0, "maximum": 1}
                    }}},
                "notes": {"type": "string", "title": "Notes"},
                "extra": {"title": "Extra", "anyOf": [{"type": "string"}, {"type": "number"}]}
            },
            "required": ["topic", "pages", "tone", "audience"],
            "additionalProperties": false
        }),
        required_credential_types: vec!["openai".into()],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 2,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "form"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

/// A tool whose engine always fails (the "did not run" result).
const BROKEN_FLOW: &str = "0b0b0b0b-dead-4bad-8bad-0b0b0b0b0b0b";

fn simple_agent(tool: &str, name: &str, flow: &str, credentials: &[&str]) -> NewAgent {
    NewAgent {
        name: name.into(),
        tool_name: tool.into(),
        description: format!("{name}, for the accessibility test"),
        engine_flow_id: flow.into(),
        input_schema: json!({"type": "object", "properties": {
            "question": {"type": "string", "title": "Question", "maxLength": 100}
        }}),
        required_credential_types: credentials.iter().map(|c| c.to_string()).collect(),
        status: AgentStatus::Published,
        ..crate::helpers::sample_agent(tool)
    }
}

/// One page checked: where, at which size, in which language.
struct Finding {
    page: String,
    size: (u32, u32),
    lang: &'static str,
    violation: Violation,
}

struct Checker<'a> {
    client: &'a Client,
    size: (u32, u32),
    lang: &'static str,
    findings: &'a mut Vec<Finding>,
    pages: &'a mut usize,
}

impl Checker<'_> {
    /// Run axe on the page now shown and keep what it finds under `label`.
    async fn check(&mut self, label: &str) {
        let url = self.client.current_url().await.expect("url");
        let lang: Value = self
            .client
            .execute("return document.documentElement.lang;", vec![])
            .await
            .expect("lang");
        assert!(
            lang.as_str()
                .is_some_and(|l| l == self.lang || l.starts_with(&format!("{}-", self.lang))),
            "{label} ({url}) should be in {:?}, its <html lang> is {lang}",
            self.lang
        );
        let page = format!("{label} ({})", url.path());
        *self.pages += 1;
        for violation in axe_violations(self.client).await {
            self.findings.push(Finding {
                page: page.clone(),
                size: self.size,
                lang: self.lang,
                violation,
            });
        }
    }

    async fn goto(&mut self, base: &str, path: &str, label: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{base}{path}")
        };
        self.client.goto(&url).await.expect("goto");
        self.check(label).await;
    }
}

fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

async fn fill(c: &Client, pointer: &str, text: &str) {
    let field = c
        .find(css(&format!("#{}", field_id(pointer))))
        .await
        .unwrap_or_else(|e| panic!("field {pointer}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn run(c: &Client) {
    c.find(css("#run"))
        .await
        .expect("the run button")
        .click()
        .await
        .expect("run");
}

/// Wait until the page shown is no longer `before` (a form's answer loaded).
async fn wait_for_new_page(c: &Client, before: &fantoccini::elements::Element) {
    for _ in 0..200 {
        // A stale reference means the old document is gone.
        if before.tag_name().await.is_err() {
            let state: Value = c
                .execute("return document.readyState;", vec![])
                .await
                .unwrap_or(Value::Null);
            if state == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the form's answer did not load");
}

fn report(findings: &[Finding]) -> String {
    let mut out = format!(
        "axe-core found {} serious or critical violation(s):\n",
        findings.len()
    );
    for f in findings {
        let v = &f.violation;
        let _ = writeln!(
            out,
            "\n- [{}x{} {}] {}\n  {} ({}): {}\n  {}",
            f.size.0,
            f.size.1,
            f.lang,
            f.page,
            v.id,
            v.impact.as_deref().unwrap_or("?"),
            v.help,
            v.help_url
        );
        for node in &v.nodes {
            let target = node
                .target
                .iter()
                .map(|t| match t {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(out, "    at {target}: {}", node.html);
            if let Some(summary) = &node.failure_summary {
                for line in summary.lines() {
                    let _ = writeln!(out, "       {line}");
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn axe_finds_no_serious_violations_on_any_page() {
    // Fail first, and clearly, if axe is not installed.
    axe_source();

    let (flowise, _seen) = form_flowise().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/prediction/{BROKEN_FLOW}")))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "the flow broke"})),
        )
        .with_priority(1)
        .mount(&flowise)
        .await;
    let uri = flowise.uri();
    let app = TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.engines.flowise.call_timeout = Duration::from_secs(5);
    })
    .await;
    let store = app.store().await;
    let agents = [
        report_agent(),
        simple_agent("broken_tool", "Broken tool", BROKEN_FLOW, &[] as &[&str]),
        simple_agent(
            "search_web",
            "Web search",
            "5e5e5e5e-5e5e-4e5e-8e5e-5e5e5e5e5e5e",
            &["serpapi"],
        ),
    ];
    for agent in &agents {
        store.create_agent(agent).await.expect("agent");
    }
    for _ in 0..200 {
        let ready: Value = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if ready["tools"].as_u64() == Some(agents.len() as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ada, key) = app.user_with_key("ada@example.com").await;
    app.db
        .put_credential(&store, &ada, "openai", "sk-ada-a11y-1")
        .await;
    // A connect link, from an MCP call that lacks Ada's serpapi key.
    let (mcp, _) = connect_http(&format!("http://{}", app.addr), &key, Protocol::Session).await;
    let r = call(&mcp, "search_web", json!({"question": "x"})).await;
    let link = r.structured_content.as_ref().expect("structured")["error"]["connect_url"]
        .as_str()
        .expect("a connect link")
        .to_string();

    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;

    // axe itself works in these pages (under their CSP): it sees an image
    // without text and a button without a name that a script adds.
    let c = browser(&driver, WIDTHS[0].0, WIDTHS[0].1).await;
    c.goto(&format!("{base}/app/login")).await.expect("goto");
    c.execute(
        "const main = document.querySelector('main');\
         const img = main.appendChild(document.createElement('img'));\
         img.src = '/app/assets/app.css'; img.width = 20; img.height = 20;\
         main.appendChild(document.createElement('button'));",
        vec![],
    )
    .await
    .expect("break the page");
    let seen: Vec<String> = axe_violations(&c).await.into_iter().map(|v| v.id).collect();
    for rule in ["image-alt", "button-name"] {
        assert!(
            seen.iter().any(|id| id == rule),
            "axe should report {rule} in a broken page, it reported {seen:?}"
        );
    }
    c.close().await.expect("close");

    let mut findings = Vec::new();
    let mut pages = 0;
    for &size in WIDTHS {
        for &lang in LANGUAGES {
            // A session of its own: no cookies (session, language) carried over.
            let c = browser(&driver, size.0, size.1).await;
            c.set_window_size(size.0, size.1).await.expect("resize");
            let mut page = Checker {
                client: &c,
                size,
                lang,
                findings: &mut findings,
                pages: &mut pages,
            };
            if lang != "en" {
                c.goto(&format!("{base}/app/lang/{lang}?next=/app/tools"))
                    .await
                    .expect("choose the language");
            }

            // Signed out: sign-in, a wrong key, the connect link.
            page.goto(&base, "/app/login", "sign-in").await;
            c.find(css("#api_key"))
                .await
                .expect("key field")
                .send_keys("vak_wrong")
                .await
                .expect("type");
            let form = c.find(css("main form")).await.expect("form");
            c.find(css("main form button[type=submit]"))
                .await
                .expect("sign in")
                .click()
                .await
                .expect("submit");
            wait_for_new_page(&c, &form).await;
            page.check("sign-in, wrong key").await;
            page.goto(&base, &link, "connect link").await;

            // Sign in.
            page.goto(&base, "/app/login", "sign-in").await;
            c.find(css("#api_key"))
                .await
                .expect("key field")
                .send_keys(&key)
                .await
                .expect("type");
            c.find(css("main form button[type=submit]"))
                .await
                .expect("sign in")
                .click()
                .await
                .expect("submit");
            c.wait()
                .for_element(css("ul.cards"))
                .await
                .expect("the tools page");
            page.check("tools").await;

            // The rich form, refused, then run.
            page.goto(&base, "/app/tools/report_writer", "tool form")
                .await;
            fill(&c, "/topic", "ab").await;
            fill(&c, "/pages", "99").await;
            let form = c.find(css("form.run")).await.expect("form");
            run(&c).await;
            wait_for_new_page(&c, &form).await;
            c.find(css(".field-error"))
                .await
                .expect("field errors on the refused form");
            page.check("tool form, validation errors").await;
            // "Add another" source: the form again, one row more.
            let form = c.find(css("form.run")).await.expect("form");
            c.find(css("button[name=_add][value='/sources']"))
                .await
                .expect("the add-a-source button")
                .click()
                .await
                .expect("add a row");
            wait_for_new_page(&c, &form).await;
            page.check("tool form, a row added").await;
            fill(&c, "/topic", "Accessible forms").await;
            fill(&c, "/pages", "5").await;
            c.find(css(&format!("#{}", field_id("/tone"))))
                .await
                .expect("select")
                .select_by_label("formal")
                .await
                .expect("choose");
            c.find(css(&format!("#{}", field_id("/draft"))))
                .await
                .expect("checkbox")
                .click()
                .await
                .expect("check");
            fill(&c, "/audience/name", "Ada").await;
            fill(&c, "/sources/0/url", "https://example.com/a").await;
            fill(&c, "/sources/0/weight", "0.5").await;
            let form = c.find(css("form.run")).await.expect("form");
            run(&c).await;
            wait_for_new_page(&c, &form).await;
            let result = c.find(css("#result")).await.expect("a result");
            assert!(
                c.find(css("pre.output.error")).await.is_err(),
                "the run succeeded: {}",
                result.text().await.unwrap_or_default()
            );
            page.check("tool form, result").await;
            let entry = c
                .find(css("section.result a[href^='/app/history/']"))
                .await
                .expect("the history entry link")
                .attr("href")
                .await
                .expect("href")
                .expect("a link");

            // An engine failure and a missing key, from the form.
            page.goto(
                &base,
                "/app/tools/broken_tool",
                "tool form, no fields needed",
            )
            .await;
            let form = c.find(css("form.run")).await.expect("form");
            run(&c).await;
            wait_for_new_page(&c, &form).await;
            c.find(css("#result")).await.expect("the failure");
            page.check("tool form, engine failed").await;
            page.goto(&base, "/app/tools/search_web", "tool form, a key needed")
                .await;
            let form = c.find(css("form.run")).await.expect("form");
            run(&c).await;
            wait_for_new_page(&c, &form).await;
            c.find(css("section.result"))
                .await
                .expect("the missing key");
            page.check("tool form, key missing").await;

            // History, an entry, credits, keys, a page that is not there.
            page.goto(&base, "/app/history", "history").await;
            c.find(css("table")).await.expect("history rows");
            page.goto(&base, &entry, "history entry").await;
            page.goto(&base, "/app/credits", "credits").await;
            page.goto(&base, "/app/credentials", "credentials").await;
            page.goto(
                &base,
                "/app/credentials?provider=serpapi#add",
                "credentials, adding one",
            )
            .await;
            page.goto(
                &base,
                "/app/credentials?provider=No+Spaces&name=default&errors=provider%3Akeys-error-provider%2Cvalue%3Akeys-error-value-empty#add",
                "credentials, a refused save",
            )
            .await;
            // Deleting a key: the confirmation asked first.
            let delete = c
                .find(css("form[action='/app/credentials/delete'] button"))
                .await
                .expect("a stored key's delete button");
            delete.click().await.expect("delete");
            c.wait()
                .for_element(css("input[name=confirm]"))
                .await
                .expect("the confirmation");
            page.check("credentials, delete confirmation").await;

            // API keys: the list, a key just made (shown once), the list
            // with it, a refused name, the revoke question; then how to
            // connect an assistant.
            page.goto(&base, "/app/api-keys", "API keys").await;
            c.find(css("#name"))
                .await
                .expect("the new key's name")
                .send_keys("Laptop")
                .await
                .expect("type");
            let form = c
                .find(css("form[action='/app/api-keys']"))
                .await
                .expect("the create form");
            c.find(css("form[action='/app/api-keys'] button[type=submit]"))
                .await
                .expect("create")
                .click()
                .await
                .expect("submit");
            wait_for_new_page(&c, &form).await;
            c.find(css("#new-key")).await.expect("the new key");
            page.check("API keys, a key just made").await;
            page.goto(&base, "/app/api-keys", "API keys, one listed")
                .await;
            page.goto(
                &base,
                "/app/api-keys?error=name-empty&name=#new",
                "API keys, a refused name",
            )
            .await;
            c.find(css("form[action='/app/api-keys/revoke'] button"))
                .await
                .expect("a key's revoke button")
                .click()
                .await
                .expect("revoke");
            c.wait()
                .for_element(css("input[name=confirm]"))
                .await
                .expect("the revoke question");
            page.check("API keys, revoke confirmation").await;
            page.goto(&base, "/app/assistants", "connect your assistant")
                .await;
            page.goto(
                &base,
                &format!("/app/history/{}", uuid::Uuid::new_v4()),
                "not found",
            )
            .await;
            page.goto(&base, "/app/connect/done", "connect link, saved")
                .await;

            c.close().await.expect("close");
        }
    }

    eprintln!(
        "axe-core: {pages} page views, {} serious or critical violation(s)",
        findings.len()
    );
    assert!(findings.is_empty(), "{}", report(&findings));
}

/// The marketplace and the Tools page with `catalog.toolbox = "chosen"`,
/// where each agent has *Add to my assistant* or *Remove*: every state of
/// them (all agents, a second page, a search, no match, a refused search,
/// an agent just added, the toolbox, one just removed, an unknown agent),
/// in both languages at both sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn axe_finds_no_serious_violations_in_the_marketplace() {
    axe_source();
    let (app, _user, key) =
        crate::web_catalog::start(Backend::Sqlite, ToolboxMode::Chosen, &market(9)).await;
    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;
    let mut findings = Vec::new();
    let mut pages = 0;
    for &size in WIDTHS {
        for &lang in LANGUAGES {
            let c = browser(&driver, size.0, size.1).await;
            c.set_window_size(size.0, size.1).await.expect("resize");
            let mut page = Checker {
                client: &c,
                size,
                lang,
                findings: &mut findings,
                pages: &mut pages,
            };
            if lang != "en" {
                c.goto(&format!("{base}/app/lang/{lang}?next=/app/login"))
                    .await
                    .expect("choose the language");
            }
            c.goto(&format!("{base}/app/login")).await.expect("goto");
            c.find(css("#api_key"))
                .await
                .expect("key field")
                .send_keys(&key)
                .await
                .expect("type");
            c.find(css("main form button[type=submit]"))
                .await
                .expect("sign in")
                .click()
                .await
                .expect("submit");
            c.wait()
                .for_element(css("#find-more"))
                .await
                .expect("the tools page");
            page.check("tools, empty toolbox").await;

            page.goto(&base, "/app/catalog", "marketplace").await;
            c.find(css("a[rel=next]")).await.expect("more results");
            page.goto(&base, "/app/catalog?cursor=12", "marketplace, page 2")
                .await;
            page.goto(&base, "/app/catalog?q=tom+tat", "marketplace, a search")
                .await;
            let results = c.find(css("main")).await.expect("main");
            c.find(css(
                "#agent-tom_tat_van_ban form[action='/app/toolbox/add'] button",
            ))
            .await
            .expect("add")
            .click()
            .await
            .expect("add");
            wait_for_new_page(&c, &results).await;
            c.find(css("p.notice.ok")).await.expect("the notice");
            page.check("marketplace, an agent added").await;
            page.goto(&base, "/app/tools", "tools, the toolbox").await;
            let tools = c.find(css("main")).await.expect("main");
            c.find(css(
                "#agent-tom_tat_van_ban form[action='/app/toolbox/remove'] button",
            ))
            .await
            .expect("remove")
            .click()
            .await
            .expect("remove");
            wait_for_new_page(&c, &tools).await;
            c.find(css("p.notice.ok")).await.expect("the notice");
            page.check("tools, an agent removed").await;
            page.goto(
                &base,
                "/app/catalog?q=khong+co+gi",
                "marketplace, nothing found",
            )
            .await;
            page.goto(
                &base,
                "/app/catalog?cursor=nope",
                "marketplace, a refused search",
            )
            .await;
            page.goto(
                &base,
                "/app/catalog?q=dich&error=unknown",
                "marketplace, an unknown agent",
            )
            .await;
            c.close().await.expect("close");
        }
    }
    eprintln!(
        "axe-core: {pages} marketplace page views, {} serious or critical violation(s)",
        findings.len()
    );
    assert!(findings.is_empty(), "{}", report(&findings));
}
