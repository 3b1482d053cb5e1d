//! MCP clients for tests: rmcp's own client over streamable HTTP (session
//! and stateless), legacy SSE (rmcp over a reqwest + SSE sink/stream pair,
//! since rmcp no longer ships an SSE client), and stdio (the real binary).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientJsonRpcMessage,
    Implementation, ProgressNotificationParam, ProtocolVersion, ServerJsonRpcMessage,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::Value;

pub type Client = RunningService<RoleClient, TestClient>;

/// (progress, message) of a progress notification.
pub type ProgressEvent = (f64, Option<String>);

#[derive(Clone, Default)]
pub struct TestClient {
    pub list_changed: Arc<tokio::sync::Notify>,
    pub progress: Arc<Mutex<Vec<ProgressEvent>>>,
    /// Protocol version offered at initialize (default 2025-11-25).
    pub protocol: Option<ProtocolVersion>,
    /// Declare the Tasks extension (`io.modelcontextprotocol/tasks`).
    pub tasks: bool,
}

impl ClientHandler for TestClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.notify_one();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress
            .lock()
            .expect("lock")
            .push((params.progress, params.message.clone()));
    }

    fn get_info(&self) -> ClientConfig {
        let capabilities = if self.tasks {
            ClientCapabilities::builder().enable_tasks().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("vieagent-tests", "1"))
            .with_protocol_version(
                self.protocol
                    .clone()
                    .unwrap_or(ProtocolVersion::V_2025_11_25),
            )
    }
}

impl TestClient {
    pub fn progress_messages(&self) -> Vec<String> {
        self.progress
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|(_, m)| m.clone())
            .collect()
    }

    pub async fn wait_list_changed(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.list_changed.notified())
            .await
            .is_ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// 2025-11-25 with an initialize handshake and a session.
    Session,
    /// 2026-07-28, stateless (server/discover, per-request metadata).
    Stateless,
}

pub fn transport(base: &str, key: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    vieagent::install_crypto_provider();
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
            .auth_header(key.to_string()),
    )
}

pub async fn connect_http(base: &str, key: &str, protocol: Protocol) -> (Client, TestClient) {
    connect_http_as(base, key, protocol, TestClient::default()).await
}

/// As [`connect_http`], with this client handler (e.g. one declaring tasks).
pub async fn connect_http_as(
    base: &str,
    key: &str,
    protocol: Protocol,
    handler: TestClient,
) -> (Client, TestClient) {
    let client = match protocol {
        Protocol::Session => handler.clone().serve(transport(base, key)).await,
        Protocol::Stateless => {
            handler
                .clone()
                .serve_with_lifecycle(
                    transport(base, key),
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
        }
    }
    .expect("MCP client connects");
    (client, handler)
}

/// Legacy HTTP+SSE (protocol 2024-11-05).
pub async fn connect_sse(base: &str, key: &str) -> (Client, TestClient) {
    vieagent::install_crypto_provider();
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}/sse"))
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse")
        .error_for_status()
        .expect("GET /sse status");
    let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
    let endpoint = loop {
        let event = events
            .next()
            .await
            .expect("event stream open")
            .expect("event");
        if event.event.as_deref() == Some("endpoint") {
            break event.data.unwrap_or_default();
        }
    };
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let post_url = format!("{base}{endpoint}");
    let stream = events.filter_map(|event| async move {
        let event = event.ok()?;
        if event.event.as_deref().unwrap_or("message") != "message" {
            return None;
        }
        serde_json::from_str::<ServerJsonRpcMessage>(event.data.as_deref()?).ok()
    });
    let key = key.to_string();
    let sink = futures::sink::unfold(
        (http, post_url, key),
        |(http, url, key), message: ClientJsonRpcMessage| async move {
            http.post(&url)
                .bearer_auth(&key)
                .json(&message)
                .send()
                .await?
                .error_for_status()?;
            Ok::<_, reqwest::Error>((http, url, key))
        },
    );
    let handler = TestClient {
        protocol: Some(ProtocolVersion::V_2024_11_05),
        ..TestClient::default()
    };
    let client = handler
        .clone()
        .serve((Box::pin(sink), Box::pin(stream)))
        .await
        .expect("SSE client connects");
    (client, handler)
}

pub fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("object arguments")
}

pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args(arguments)))
        .await
        .expect("tools/call answered")
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
