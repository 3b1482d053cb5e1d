//! The Easy Mode web app in a real browser: Debian's headless Chromium,
//! driven over WebDriver (chromedriver + fantoccini), against the real
//! binary (its log is checked too). Sign in, fill and run a form with an
//! enum, a nested object and an array, see the result and the history row;
//! follow a connect link from a failed MCP call, store a key, call again
//! over MCP and see it succeed; a reused link is refused. No page source
//! and no log line ever holds a stored key.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`; `.ci/run` installs them). With
//! `VIEAGENT_UPDATE_SCREENSHOTS=1` it rewrites the README's screenshots.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::web::form::field_id;

use crate::helpers::{Backend, ServerProcess, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, text_of};
use crate::web::{form_flowise, trip_agent};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, stopped with the test.
pub struct Driver {
    _process: tokio::process::Child,
    url: String,
}

impl Driver {
    /// Where chromedriver listens.
    pub fn url(&self) -> &str {
        &self.url
    }
}

pub async fn chromedriver() -> Driver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; .ci/run does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let process = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return Driver {
                _process: process,
                url,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on {url}");
}

pub async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}")]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn css(id: &str) -> Locator<'_> {
    Locator::Css(id)
}

async fn fill(c: &Client, pointer: &str, text: &str) {
    let selector = format!("#{}", field_id(pointer));
    let field = c.find(css(&selector)).await.expect(pointer);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

pub async fn screenshot(c: &Client, name: &str) {
    if std::env::var("VIEAGENT_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let png = c.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

async fn user_with_key(
    store: &vieagent::store::DynStore,
    email: &str,
) -> (vieagent::store::User, String) {
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        email,
        None,
        vieagent::store::Role::User,
        "free",
        500,
    )
    .await
    .expect("user");
    let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "browser")
        .await
        .expect("key");
    (user, secrecy::ExposeSecret::expose_secret(&key).to_string())
}

#[tokio::test]
async fn easy_mode_and_connect_links_in_a_real_browser() {
    let (flowise, seen) = form_flowise().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    store.create_agent(&trip_agent()).await.expect("agent");
    let vault = db.vault(&store).await;
    let (ada, ada_key) = user_with_key(&store, "ada@example.com").await;
    let ada_openai = "sk-ada-browser-31337";
    vault
        .put(&ada, "openai", "default", &SecretString::from(ada_openai))
        .await
        .expect("credential");
    let (_carol, carol_key) = user_with_key(&store, "carol@example.com").await;
    let carol_openai = "sk-carol-browser-27182";

    let flowise_url = flowise.uri();
    let server = ServerProcess::start(
        db.dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db.url.as_str()),
            ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
            ("VIEAGENT_FLOWISE_URL", flowise_url.as_str()),
            ("VIEAGENT_DEMO", "false"),
            ("VIEAGENT_LOG_LEVEL", "debug,sqlx=warn,hyper=info,h2=info"),
        ],
    )
    .await;
    let base = format!("http://{}", server.addr);
    let driver = chromedriver().await;
    let c = browser(&driver, 1100, 1300).await;
    let mut sources = Vec::new();

    // Sign in.
    c.goto(&format!("{base}/app")).await.expect("goto");
    c.find(css("#api_key"))
        .await
        .expect("key field")
        .send_keys(&ada_key)
        .await
        .expect("type");
    c.find(css("form button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    c.wait()
        .for_element(css("ul.cards"))
        .await
        .expect("the tools page");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/app/tools")
    );
    sources.push(c.source().await.expect("source"));

    // The form: enum select, nested object, array with "Add another".
    c.find(Locator::LinkText("Trip planner"))
        .await
        .expect("tool link")
        .click()
        .await
        .expect("open");
    c.wait().for_element(css("form.run")).await.expect("form");
    fill(&c, "/destination", "Da Lat").await;
    c.find(css(&format!("#{}", field_id("/mode"))))
        .await
        .expect("select")
        .select_by_label("plane")
        .await
        .expect("choose");
    fill(&c, "/traveler/name", "Ada").await;
    fill(&c, "/traveler/age", "36").await;
    fill(&c, "/stops/0", "Hue").await;
    c.find(css("button[name=_add]"))
        .await
        .expect("add")
        .click()
        .await
        .expect("add a row");
    c.wait()
        .for_element(css(&format!("#{}", field_id("/stops/1"))))
        .await
        .expect("a second row");
    fill(&c, "/stops/1", "Hoi An").await;
    c.find(css("#run"))
        .await
        .expect("run")
        .click()
        .await
        .expect("run");
    let result = c.wait().for_element(css("#result")).await.expect("result");
    let text = result.text().await.expect("text");
    assert_eq!(text, "<b>Trip</b> to Da Lat by plane for Ada (2 stops)");
    // Post/redirect/get: the result page is a GET; Back does not run it again.
    let result_url = c.current_url().await.expect("url");
    assert!(
        result_url
            .as_str()
            .contains("/app/tools/trip_planner?draft="),
        "{result_url}"
    );
    let calls_after_run = seen.lock().expect("lock").len();
    c.back().await.expect("back");
    c.wait()
        .for_element(css("form.run"))
        .await
        .expect("the form again");
    c.forward().await.expect("forward");
    c.wait()
        .for_element(css("#result"))
        .await
        .expect("the result again");
    assert_eq!(
        seen.lock().expect("lock").len(),
        calls_after_run,
        "Back and Forward ran nothing"
    );
    let form = seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("engine called");
    assert_eq!(
        form["form"],
        json!({"destination": "Da Lat", "mode": "plane", "traveler": {"name": "Ada", "age": 36}, "stops": ["Hue", "Hoi An"]})
    );
    sources.push(c.source().await.expect("source"));
    screenshot(&c, "easy-mode-form.png").await;

    // A value the schema refuses: the error next to its field, no engine call.
    let calls = seen.lock().expect("lock").len();
    fill(&c, "/traveler/age", "500").await;
    c.find(css("#run"))
        .await
        .expect("run")
        .click()
        .await
        .expect("run");
    let error = c
        .wait()
        .for_element(css(&format!("#{}-error", field_id("/traveler/age"))))
        .await
        .expect("a field error");
    assert_eq!(
        error.text().await.expect("text"),
        "Enter a whole number from 0 to 130."
    );
    assert_eq!(seen.lock().expect("lock").len(), calls);
    // Focus is on the error summary; its link takes focus to the field.
    let focused: Value = c
        .execute("return document.activeElement.id;", vec![])
        .await
        .expect("focus");
    assert_eq!(focused, json!("error-summary"));
    c.find(css("#error-summary a"))
        .await
        .expect("summary link")
        .click()
        .await
        .expect("click");
    let focused: Value = c
        .execute("return document.activeElement.id;", vec![])
        .await
        .expect("focus");
    assert_eq!(focused, json!(field_id("/traveler/age")));
    screenshot(&c, "easy-mode-errors.png").await;

    // History: the new rows.
    c.find(Locator::LinkText("History"))
        .await
        .expect("nav")
        .click()
        .await
        .expect("history");
    c.wait().for_element(css("table")).await.expect("table");
    let history = c.source().await.expect("source");
    assert!(history.contains(">Done<"), "{history}");
    assert!(
        history.contains("<td>Trip planner</td>"),
        "the agent's name"
    );
    // The time is shown in the browser's zone by the page's script.
    let shown = c
        .find(css("td time"))
        .await
        .expect("a time")
        .text()
        .await
        .expect("text");
    assert!(!shown.contains("UTC") && !shown.is_empty(), "{shown}");
    sources.push(history);
    screenshot(&c, "history.png").await;

    // Phone width: the same pages, usable.
    c.set_window_size(390, 844).await.expect("resize");
    c.goto(&format!("{base}/app/tools/trip_planner"))
        .await
        .expect("goto");
    let width: Value = c
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .expect("width");
    assert!(
        width.as_u64().unwrap_or(9999) <= 400,
        "no sideways scrolling: {width}"
    );
    c.set_window_size(1100, 1300).await.expect("resize");

    // In Vietnamese, through the switcher: the same form, its words translated.
    c.find(Locator::LinkText("Tiếng Việt"))
        .await
        .expect("switcher")
        .click()
        .await
        .expect("switch");
    c.wait().for_element(css("form.run")).await.expect("form");
    let vi = c.source().await.expect("source");
    assert!(vi.contains("lang=\"vi\""), "{vi}");
    assert!(vi.contains("Các trường có dấu * là bắt buộc."));
    fill(&c, "/destination", "Đà Lạt").await;
    fill(&c, "/traveler/name", "").await;
    c.find(css("#run"))
        .await
        .expect("run")
        .click()
        .await
        .expect("run");
    let error = c
        .wait()
        .for_element(css(&format!("#{}-error", field_id("/traveler/name"))))
        .await
        .expect("a field error");
    assert_eq!(error.text().await.expect("text"), "Hãy nhập Name.");
    screenshot(&c, "easy-mode-form-vi.png").await;
    c.find(Locator::LinkText("English"))
        .await
        .expect("switcher")
        .click()
        .await
        .expect("switch");
    c.wait().for_element(css("form.run")).await.expect("form");

    // A connect link from a failed MCP call: refused while signed in as Ada…
    let (mcp, _) = connect_http(&base, &carol_key, Protocol::Session).await;
    let args = json!({"destination": "Hue", "mode": "bike", "traveler": {"name": "Carol"}});
    let r = call(&mcp, "trip_planner", args.clone()).await;
    assert_eq!(r.is_error, Some(true));
    let link = r.structured_content.as_ref().expect("structured")["error"]["connect_url"]
        .as_str()
        .expect("link")
        .to_string();
    c.goto(&link).await.expect("goto");
    assert!(
        c.source()
            .await
            .expect("source")
            .contains("another account")
    );
    // …then, signed out, the key goes in.
    c.goto(&format!("{base}/app/tools")).await.expect("goto");
    c.find(css("form.signout button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(css("#api_key"))
        .await
        .expect("signed out");
    c.goto(&link).await.expect("goto");
    let field = c
        .wait()
        .for_element(css("#key-openai"))
        .await
        .expect("key field");
    assert!(
        c.source()
            .await
            .expect("source")
            .contains("carol@example.com")
    );
    field.send_keys(carol_openai).await.expect("type");
    c.find(css("form button[type=submit]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("save");
    c.wait().for_element(css("h1")).await.expect("page");
    let saved = c.source().await.expect("source");
    assert!(saved.contains("run the tool again"), "{saved}");
    sources.push(saved);

    // The call now succeeds over MCP, with the key from the browser.
    let r = call(&mcp, "trip_planner", args).await;
    assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
    let body = seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("engine called");
    assert_eq!(body["overrideConfig"]["openAIApiKey"], carol_openai);

    // The same link again: refused clearly.
    c.goto(&link).await.expect("goto");
    let reused = c.source().await.expect("source");
    assert!(reused.contains("already used"), "{reused}");
    sources.push(reused);

    // No page and no log line holds a stored key.
    for source in &sources {
        assert!(!source.contains(ada_openai) && !source.contains(carol_openai));
    }
    let log = server.log();
    assert!(log.contains("web sign-in"), "the log is being read");
    assert!(!log.contains(ada_openai) && !log.contains(carol_openai));
    assert!(!log.contains(&ada_key) && !log.contains(&carol_key));
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains("token=")).collect();
    assert!(leaks.is_empty(), "connect links are not logged: {leaks:#?}");
    c.close().await.expect("close");
}
