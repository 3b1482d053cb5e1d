//! Activepieces adapter.
//!
//! Facts below were read from activepieces/activepieces `packages/server/api`:
//! * `POST /api/v1/webhooks/{flowId}/sync` (published version; `/draft/sync`
//!   for the draft) — `app/webhooks/webhook-controller.ts`, public route
//!   (`skipAuth`). The Catch Webhook trigger may check Basic or Header auth
//!   itself (`pieces/community/webhook/src/lib/triggers/catch-hook.ts`).
//! * The flow sees `{method, headers, body, queryParams}`
//!   (`webhook-request-converter.ts`) and reads `trigger.body.*`. The gateway
//!   sends the arguments as the JSON body and the user's credentials in one
//!   reserved body field (default `_credentials`: `trigger.body._credentials.openai`).
//! * `app/webhooks/webhook.service.ts`: 410 flow gone, 404 flow disabled, 413
//!   payload too large; the sync answer is whatever the flow's "Return
//!   Response" step sets. Without one, the engine waits for
//!   `AP_WEBHOOK_TIMEOUT_SECONDS` (default 30, `helper/system/system.ts`) and
//!   answers **204** while the run may continue (`workers/engine-response-watcher.ts`);
//!   a failed run answers 500 `{message}`
//!   (`flows/flow-run/engine-run-callback-service.ts`). A 204 arriving after
//!   the sync timeout is reported as "no response from flow", not success.
//! * Every response carries `x-webhook-id` (the request id; the run id itself
//!   is not returned) — stored as `external_execution_id`.
//! * `GET /api/v1/flows/{id}` (API key as Bearer) → `version.trigger.settings`;
//!   MCP-tool flows (`pieces/community/mcp`, trigger `mcp_tool`) declare
//!   `input.inputSchema = [{name, description, type: Text|Number|Boolean|Date|Array|Object, required}]`.
//! * `GET /api/v1/health` → `{"status":"Healthy"}` (`app/health/health.module.ts`).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use super::http::{HttpClient, RawResponse, endpoint, valid_flow_id};
use super::{
    Engine, EngineError, EngineOutput, FlowDescription, InvokeOptions, Retention, RunRef, Stop,
    excerpt, render_text,
};
use crate::config::{ActivepiecesConfig, WebhookAuth};
use crate::scrub::Scrubber;
use crate::store::EngineType;
use crate::vault::Credentials;

/// A 204 this close to the engine's sync timeout means the flow did not answer.
const NO_RESPONSE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

pub struct ActivepiecesEngine {
    http: HttpClient,
    base: url::Url,
    token: Option<SecretString>,
    webhook_auth: Option<WebhookAuth>,
    credentials_field: String,
    sync_timeout: std::time::Duration,
}

impl ActivepiecesEngine {
    pub fn new(config: &ActivepiecesConfig) -> Result<Self, EngineError> {
        let base = config.base_url.clone().ok_or(EngineError::NotConfigured {
            engine: "activepieces",
        })?;
        Ok(Self {
            http: HttpClient::new(config.http())?,
            base,
            token: config.token.clone(),
            webhook_auth: config.webhook_auth.clone(),
            credentials_field: config.credentials_field.clone(),
            sync_timeout: config.sync_timeout,
        })
    }

    fn webhook_request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.webhook_auth {
            Some(WebhookAuth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Some(WebhookAuth::Header { name, value }) => {
                request.header(name.as_str(), value.expose_secret())
            }
            None => request,
        }
    }

    fn body(&self, arguments: &Value, credentials: &Credentials) -> Result<Value, EngineError> {
        let mut body = arguments
            .as_object()
            .cloned()
            .ok_or_else(|| EngineError::BadInput("arguments must be a JSON object".into()))?;
        if !credentials.is_empty() {
            let creds: Map<String, Value> = credentials
                .iter()
                .map(|c| {
                    (
                        c.provider.clone(),
                        Value::String(c.value.expose_secret().to_string()),
                    )
                })
                .collect();
            body.insert(self.credentials_field.clone(), Value::Object(creds));
        }
        Ok(Value::Object(body))
    }

    async fn get_flow(&self, flow_id: &str) -> Result<Value, EngineError> {
        valid_flow_id(flow_id)?;
        let Some(token) = &self.token else {
            return Err(EngineError::BadInput(
                "reading an Activepieces flow needs engines.activepieces.token (VIEAGENT_ACTIVEPIECES_TOKEN)".into(),
            ));
        };
        let url = endpoint(&self.base, &["api", "v1", "flows", flow_id]);
        let response = self
            .http
            .send(
                |c| c.get(url.clone()).bearer_auth(token.expose_secret()),
                self.http.config.call_timeout,
            )
            .await?;
        if !response.status.is_success() {
            return Err(classify_error(&response, &Scrubber::default()));
        }
        serde_json::from_slice(&response.body).map_err(|e| EngineError::InvalidResponse {
            detail: format!("flow is not JSON ({e})"),
        })
    }
}

fn classify_error(response: &RawResponse, scrub: &Scrubber) -> EngineError {
    let status = response.status.as_u16();
    let text = String::from_utf8_lossy(&response.body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.to_string());
    let message = scrub.text(&message).into_owned();
    match status {
        410 => EngineError::FlowNotFound {
            detail: "the flow does not exist (HTTP 410)".into(),
        },
        404 => EngineError::FlowDisabled,
        413 => EngineError::PayloadTooLarge,
        401 | 403 => EngineError::GatewayRejected { status },
        429 => EngineError::RateLimited,
        300..=399 => EngineError::InvalidResponse {
            detail: format!("the engine redirected (HTTP {status}); redirects are not followed"),
        },
        400..=499 => EngineError::Rejected {
            status,
            message: excerpt(&message, 300),
        },
        _ => EngineError::Failed {
            status,
            excerpt: if message.trim().is_empty() {
                "no message".into()
            } else {
                excerpt(&message, 300)
            },
        },
    }
}

/// An MCP-tool trigger's `inputSchema` as JSON Schema (types as the
/// Activepieces MCP server maps them: Text/Date → string, Array → string
/// array, Object → string map).
fn mcp_schema(fields: &[Value]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let Some(name) = field
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let mut prop = match field.get("type").and_then(Value::as_str).unwrap_or("Text") {
            "Number" => json!({"type": "number"}),
            "Boolean" => json!({"type": "boolean"}),
            "Date" => json!({"type": "string", "format": "date-time"}),
            "Array" => json!({"type": "array", "items": {"type": "string"}}),
            "Object" => json!({"type": "object", "additionalProperties": {"type": "string"}}),
            _ => json!({"type": "string"}),
        };
        prop["title"] = Value::String(name.to_string());
        if let Some(d) = field
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            prop["description"] = Value::String(d.to_string());
        }
        properties.insert(name.to_string(), prop);
        if field
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            required.push(Value::String(name.to_string()));
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

#[async_trait]
impl Engine for ActivepiecesEngine {
    fn engine_type(&self) -> EngineType {
        EngineType::Activepieces
    }

    async fn invoke(
        &self,
        flow_id: &str,
        arguments: &Value,
        credentials: &Credentials,
        options: &InvokeOptions<'_>,
    ) -> Result<EngineOutput, EngineError> {
        valid_flow_id(flow_id)?;
        let body = self.body(arguments, credentials)?;
        let draft = options.engine_config.get("draft").and_then(Value::as_bool) == Some(true);
        let url = if draft {
            endpoint(
                &self.base,
                &["api", "v1", "webhooks", flow_id, "draft", "sync"],
            )
        } else {
            endpoint(&self.base, &["api", "v1", "webhooks", flow_id, "sync"])
        };
        let timeout = options.timeout.unwrap_or(self.http.config.call_timeout);
        let scrub = Scrubber::new(credentials.iter().map(|c| c.value.expose_secret()));
        let response = self
            .http
            .send(
                |c| self.webhook_request(c.post(url.clone()).json(&body)),
                timeout,
            )
            .await?;
        let external_execution_id = response
            .headers
            .get("x-webhook-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !response.status.is_success() {
            return Err(classify_error(&response, &scrub));
        }
        if response.body.iter().all(u8::is_ascii_whitespace) {
            if response.elapsed + NO_RESPONSE_MARGIN >= self.sync_timeout {
                return Err(EngineError::NoResponse {
                    after: self.sync_timeout,
                });
            }
            return Ok(EngineOutput {
                result: Value::Null,
                text: "The flow ran and returned no data.".into(),
                external_execution_id,
                kept_records: Vec::new(),
            });
        }
        let is_json = response
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let result = match serde_json::from_slice::<Value>(&response.body) {
            Ok(v) => v,
            Err(e) if is_json => {
                return Err(EngineError::InvalidResponse {
                    detail: format!("the flow's response claims JSON but is not ({e})"),
                });
            }
            Err(_) => Value::String(String::from_utf8_lossy(&response.body).into_owned()),
        };
        let text = ["text", "message", "output", "result"]
            .iter()
            .find_map(|k| result.get(k).and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| render_text(&result));
        Ok(EngineOutput {
            result,
            text,
            external_execution_id,
            kept_records: Vec::new(),
        })
    }

    async fn describe(&self, flow_id: &str) -> Result<FlowDescription, EngineError> {
        let flow = self.get_flow(flow_id).await?;
        let version = flow.get("version").unwrap_or(&Value::Null);
        let settings = version.pointer("/trigger/settings").unwrap_or(&Value::Null);
        let piece = settings
            .get("pieceName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let trigger = settings
            .get("triggerName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let display = version
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("Activepieces flow")
            .to_string();
        let mut description = FlowDescription {
            name: display.clone(),
            description: format!("{display} (Activepieces flow)"),
            engine_config: json!({}),
            ..FlowDescription::default()
        };
        if flow.get("status").and_then(Value::as_str) == Some("DISABLED") {
            description
                .publish_blockers
                .push("the flow is disabled in Activepieces; enable it first".into());
        }
        if piece.contains("mcp") && trigger == "mcp_tool" {
            let input = settings.get("input").unwrap_or(&Value::Null);
            if let Some(name) = input
                .get("toolName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                description.name = name.to_string();
            }
            if let Some(d) = input
                .get("toolDescription")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                description.description = d.to_string();
            }
            let fields = input
                .get("inputSchema")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            description.input_schema = Some(mcp_schema(&fields));
            description.warnings.push(
                "MCP-tool flows are called through their webhook here; make sure the flow also \
                 answers via a Return Response step"
                    .into(),
            );
        } else {
            description.warnings.push(format!(
                "the flow's trigger ({}) does not declare its inputs; give input_schema in the agent manifest",
                if trigger.is_empty() { "unknown" } else { trigger }
            ));
        }
        Ok(description)
    }

    async fn validate(
        &self,
        flow_id: &str,
        _required_credential_types: &[String],
        _engine_config: &Value,
    ) -> Result<Vec<String>, EngineError> {
        valid_flow_id(flow_id)?;
        if self.token.is_none() {
            // Webhooks need no token; the flow cannot be inspected without one.
            return Ok(Vec::new());
        }
        Ok(self.describe(flow_id).await?.publish_blockers)
    }

    async fn health(&self) -> Result<(), EngineError> {
        let url = endpoint(&self.base, &["api", "v1", "health"]);
        let response = self
            .http
            .send(|c| c.get(url.clone()), self.http.config.connect_timeout * 2)
            .await?;
        if response.status.is_success() {
            Ok(())
        } else {
            Err(classify_error(&response, &Scrubber::default()))
        }
    }

    /// A flow run keeps its trigger's output — the webhook request, body
    /// and `_credentials` included — in the run's log file until the
    /// instance's data retention ends (`AP_EXECUTION_DATA_RETENTION_DAYS`,
    /// 30 days in current releases, 14 in older ones;
    /// `packages/server/api/src/app/flows/flow-run/`).
    /// The sync webhook answer names no run (only `x-webhook-id`), and the
    /// API has no way to delete one run (`POST /v1/flow-runs/archive` hides
    /// runs from the list and keeps their data).
    fn retention(&self) -> Retention {
        Retention::Kept(
            "Activepieces keeps each run's webhook request (credentials included) in the run's \
             log until AP_EXECUTION_DATA_RETENTION_DAYS; no API deletes one run"
                .into(),
        )
    }

    /// Activepieces cannot stop a running run: `POST /v1/flow-runs/cancel`
    /// (`flows/flow-run/flow-run-controller.ts`) takes only `PAUSED` or
    /// `QUEUED` runs, and the sync webhook does not name its run (the
    /// `x-webhook-id` it returns is a request id no API looks runs up by).
    async fn stop(&self, _run: &RunRef) -> Result<Stop, EngineError> {
        Ok(Stop::Unsupported(
            "Activepieces has no API to stop a running flow run (only queued or paused runs \
             can be cancelled)",
        ))
    }
}
