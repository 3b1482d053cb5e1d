//! A buyer's own flows in Debian's headless Chromium, against the real
//! server: make an API key on the page (shown once), use it from an MCP
//! client, revoke it (asked first) and see the client refused; open
//! "Connect your assistant"; follow *Buy* from a priced tool to the
//! marketplace's page (a stand-in here), with the way back; search the
//! marketplace, add an agent to the assistant and remove it. With
//! `VIEAGENT_UPDATE_SCREENSHOTS=1` it rewrites the README's screenshots of
//! these pages.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use vieagent::config::ToolboxMode;

use crate::billing::Billing;
use crate::browser::{browser, chromedriver, screenshot};
use crate::helpers::Backend;
use crate::mcp_client::{Protocol, connect_http};
use crate::web_catalog::{market, start};

#[tokio::test]
async fn a_buyer_makes_uses_and_revokes_a_key_and_goes_to_buy() {
    // The marketplace's checkout, standing in for VieAgent.vn.
    let market = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body><h1>Checkout</h1></body></html>", "text/html"),
        )
        .mount(&market)
        .await;
    let agent_url = format!("{}/agents/{{agent_id}}", market.uri());
    let f = Billing::start_with(Backend::Sqlite, Duration::ZERO, |c| {
        c.marketplace.agent_url = Some(agent_url.clone());
        c.marketplace.credits_url = Some(format!("{}/credits", market.uri()).parse().expect("url"));
    })
    .await;
    let premium = f
        .agent("premium_writer", 2, None, Some("9.99"), false)
        .await;
    f.agent("free_qa", 1, None, None, false).await;
    f.wait_for_tools(2).await;
    let (_ada, key) = f.user("ada@example.com", 50).await;
    let base = format!("http://{}", f.app.addr);
    let driver = chromedriver().await;
    let c = browser(&driver, 1100, 900).await;

    // Sign in with the given key.
    c.goto(&format!("{base}/app/login")).await.expect("goto");
    c.find(Locator::Id("api_key"))
        .await
        .expect("key field")
        .send_keys(&key)
        .await
        .expect("type");
    c.find(Locator::Css("form[action='/app/login'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("sign in");
    c.wait()
        .for_element(Locator::Css("ul.cards"))
        .await
        .expect("tools");

    // The priced tool offers Buy, to the marketplace, with the way back.
    let buy = c
        .find(Locator::Css("a.button.buy"))
        .await
        .expect("a Buy button");
    assert!(
        buy.text().await.expect("text").contains("9.99 USD a month"),
        "the price on the button"
    );
    screenshot(&c, "buy.png").await;
    buy.click().await.expect("buy");
    c.wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("the checkout");
    let at = c.current_url().await.expect("url");
    assert!(
        at.as_str()
            .starts_with(&format!("{}/agents/{}", market.uri(), premium.id)),
        "{at}"
    );
    let back = at
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.to_string())
        .expect("return_to");
    assert_eq!(back, format!("{base}/app/tools"));

    // A key of one's own: made on the page, shown once, with a copy button.
    c.goto(&format!("{base}/app/api-keys")).await.expect("goto");
    c.find(Locator::Id("name"))
        .await
        .expect("name field")
        .send_keys("Cursor on my laptop")
        .await
        .expect("type");
    c.find(Locator::Css(
        "form[action='/app/api-keys'] button[type=submit]",
    ))
    .await
    .expect("create")
    .click()
    .await
    .expect("create");
    let shown = c
        .wait()
        .for_element(Locator::Id("new-key"))
        .await
        .expect("the new key");
    let new_key = shown.text().await.expect("text").trim().to_string();
    assert!(new_key.starts_with("vak_"), "{new_key}");
    screenshot(&c, "api-key-created.png").await;
    // It works for an MCP client.
    let (client, _) = connect_http(&base, &new_key, Protocol::Session).await;
    let listed = client.list_tools(None).await.expect("tools/list");
    assert!(listed.tools.iter().any(|t| t.name == "free_qa"));
    client.cancel().await.expect("close");
    // The list never shows it again.
    c.goto(&format!("{base}/app/api-keys")).await.expect("goto");
    let list = c.source().await.expect("source");
    assert!(list.contains("Cursor on my laptop"));
    assert!(!list.contains(&new_key), "shown once");

    // Revoked after the question: the client is refused.
    let revoke = c
        .find(Locator::XPath(
            "//tr[td[contains(., 'Cursor on my laptop')]]//button",
        ))
        .await
        .expect("its revoke button");
    revoke.click().await.expect("revoke");
    c.wait()
        .for_element(Locator::Css("button.danger"))
        .await
        .expect("the question")
        .click()
        .await
        .expect("confirm");
    c.wait()
        .for_element(Locator::Css("h1"))
        .await
        .expect("the list again");
    let refused = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(&new_key)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .await
        .expect("mcp");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    // Connect your assistant: the setups, with the gateway's address.
    c.goto(&format!("{base}/app/assistants"))
        .await
        .expect("goto");
    let page = c.source().await.expect("source");
    assert!(page.contains(&format!("{base}/mcp")), "{page}");
    screenshot(&c, "assistants.png").await;
    c.close().await.expect("close");
}

/// With `catalog.toolbox = "chosen"`: from the empty Tools page to the
/// marketplace, search without accents, add an agent (the assistant's
/// list has it), see it on the Tools page, remove it there.
#[tokio::test]
async fn a_buyer_finds_adds_and_removes_an_agent_in_the_marketplace() {
    let agents = market(0);
    let (app, _user, key) = start(Backend::Sqlite, ToolboxMode::Chosen, &agents).await;
    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;
    let c = browser(&driver, 1100, 900).await;
    let css = Locator::Css;

    c.goto(&format!("{base}/app/login")).await.expect("goto");
    c.find(Locator::Id("api_key"))
        .await
        .expect("key field")
        .send_keys(&key)
        .await
        .expect("type");
    c.find(css("form[action='/app/login'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("sign in");
    // An empty toolbox: the way to the marketplace.
    c.wait()
        .for_element(css("#find-more"))
        .await
        .expect("the Tools page's link to the marketplace")
        .click()
        .await
        .expect("to the marketplace");
    c.wait()
        .for_element(css("ul.cards"))
        .await
        .expect("every agent");
    assert_eq!(
        c.find_all(css("li.card")).await.expect("cards").len(),
        agents.len()
    );

    // Search without accents (the form works without the script).
    let q = c.find(Locator::Id("q")).await.expect("the search field");
    q.send_keys("van ban").await.expect("type");
    let form = c.find(css("form.search")).await.expect("the search form");
    c.find(css("form.search button[type=submit]"))
        .await
        .expect("search")
        .click()
        .await
        .expect("search");
    for _ in 0..200 {
        if form.tag_name().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let at = c.current_url().await.expect("url");
    assert_eq!(at.query(), Some("q=van+ban"), "{at}");
    let mut found = Vec::new();
    for card in c.find_all(css("li.card")).await.expect("cards") {
        found.push(card.attr("id").await.expect("id").unwrap_or_default());
    }
    found.sort();
    assert_eq!(found, vec!["agent-dich_thuat", "agent-tom_tat_van_ban"]);

    // Add: back on the same search, saying so, the card changed.
    c.find(css(
        "#agent-tom_tat_van_ban form[action='/app/toolbox/add'] button",
    ))
    .await
    .expect("Add to my assistant")
    .click()
    .await
    .expect("add");
    let notice = c
        .wait()
        .for_element(css("p.notice.ok"))
        .await
        .expect("the notice");
    assert_eq!(
        notice.text().await.expect("text"),
        "Added “Tóm tắt văn bản” to your assistant."
    );
    assert_eq!(
        c.find(Locator::Id("q"))
            .await
            .expect("field")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("van ban"),
        "the search is kept"
    );
    c.find(css(
        "#agent-tom_tat_van_ban form[action='/app/toolbox/remove'] button",
    ))
    .await
    .expect("now Remove");
    screenshot(&c, "web-catalog.png").await;
    // The assistant sees it.
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/tools?format=mcp"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("tools")
        .json()
        .await
        .expect("json");
    assert!(
        listed.to_string().contains("\"tom_tat_van_ban\""),
        "{listed}"
    );

    // On the Tools page, with Remove.
    c.find(css("header nav a[href='/app/tools']"))
        .await
        .expect("the navigation")
        .click()
        .await
        .expect("to the Tools page");
    let remove = c
        .wait()
        .for_element(css(
            "#agent-tom_tat_van_ban form[action='/app/toolbox/remove'] button",
        ))
        .await
        .expect("its Remove button");
    remove.click().await.expect("remove");
    let notice = c
        .wait()
        .for_element(css("p.notice.ok"))
        .await
        .expect("the notice");
    assert_eq!(
        notice.text().await.expect("text"),
        "Removed “Tóm tắt văn bản” from your assistant. Its history stays."
    );
    assert!(c.find_all(css("li.card")).await.expect("cards").is_empty());
    c.find(css("#find-more"))
        .await
        .expect("the empty state's link");
    c.close().await.expect("close");
}
