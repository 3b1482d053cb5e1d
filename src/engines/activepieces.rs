//! Activepieces adapter.
//!
//! Facts below were read from activepieces/activepieces (file, and the
//! commit the stored copy was read at; `tests/fixtures/activepieces/` has
//! one recorded shape per behaviour, each naming its source):
//! * `POST /api/v1/webhooks/{flowId}/sync` runs the flow's published version
//!   (the latest when none is: `getFlowVersionIdToRun`), public route; the
//!   Catch Webhook trigger may check Basic or Header auth itself
//!   (`pieces/community/webhook/src/lib/triggers/catch-hook.ts`). `/draft/sync`
//!   runs the draft and always saves the request as sample data.
//! * The flow sees `{method, headers, body, queryParams}`
//!   (`webhook-request-converter.ts`, 03c3239e) and reads `trigger.body.*`,
//!   unless the request carries `ap-raw-payload: true` and an
//!   `Authorization` header (any value): then the bare JSON body is the
//!   payload (`webhook-controller.ts` `extractRawPayload`, production
//!   routes only; older servers ignore the header). The gateway asks for
//!   it for MCP-tool flows only: a Catch Webhook's own auth reads the
//!   envelope's headers. The user's credentials ride in one reserved body
//!   field (default `_credentials`).
//! * MCP-tool flows (`@activepieces/piece-mcp`, trigger `mcp_tool`): the
//!   trigger unwraps the envelope itself in current releases (`mcp-tool.ts`,
//!   03c3239e; it returned the envelope at 50866c02) and refuses a missing
//!   required argument. Only a step of the trigger's own piece answers a
//!   sync webhook (`isSamePiece`, `engine/src/lib/handler/piece-executor.ts`,
//!   014e63de; issue #13108): for an MCP tool that is "Reply to MCP Client"
//!   (`reply_to_mcp_client`); a Webhook "Return Response" is ignored.
//! * `webhook.service.ts` (03a4c287): 410 flow gone, 404 flow disabled, 413
//!   payload too large, each with `x-webhook-id` (the request id, not the
//!   run's); a 404 without it is not Activepieces' webhook route (a wrong
//!   base URL: Fastify's own "Route … not found"). With no reply in
//!   `AP_WEBHOOK_TIMEOUT_SECONDS` (default 30, `helper/system/system.ts`)
//!   the answer is 204 `{}` (0.85 and before) or 408 `{}` (0.86 on, issue
//!   #15133) while the run may continue; a failed run answered the same way
//!   from 0.80 until PR #15226 (2026-09) restored a prompt 500. The timeout
//!   is read from `GET /api/v1/flags` (`WEBHOOK_TIMEOUT_SECONDS`,
//!   `flags/flag.service.ts`, 00621f24) when the server publishes it.
//! * `GET /api/v1/flows/{id}` (API key as Bearer; Platform and Enterprise
//!   editions only) returns the latest (draft) version unless `?versionId=`
//!   names one (`flow.controller.ts`, `flow-version.service.ts`, 0166cd98):
//!   import reads `publishedVersionId`'s. MCP-tool flows declare
//!   `input.inputSchema = [{name, description, type, required}]`, mapped as
//!   Activepieces' MCP server maps them (`mcpPropertyToZod`,
//!   `mcp-server-builder.ts`, 03136c44).
//! * `GET /api/v1/health` → `{"status":"Healthy"}` (`app/health/health.module.ts`).

use std::time::Duration;

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
const NO_RESPONSE_MARGIN: Duration = Duration::from_millis(1500);

/// The MCP piece, its trigger and its reply step; the Webhook piece's.
const MCP_PIECE: &str = "@activepieces/piece-mcp";
const MCP_TRIGGER: &str = "mcp_tool";
const MCP_REPLY: &str = "reply_to_mcp_client";
const WEBHOOK_PIECE: &str = "@activepieces/piece-webhook";
const WEBHOOK_REPLY: &str = "return_response";

/// Why a draft-mode agent may not send users' keys.
const DRAFT_WITH_KEYS: &str = "draft mode (engine_config.draft) is refused for an agent that \
     sends users' keys: Activepieces saves every draft request as the flow's sample data, keys \
     included; publish the flow and call its published version";

/// `engine_config.trigger` of an agent imported from an MCP-tool flow: its
/// calls ask for the raw payload.
const RAW_PAYLOAD_TRIGGER: &str = "mcp_tool";

pub struct ActivepiecesEngine {
    http: HttpClient,
    base: url::Url,
    token: Option<SecretString>,
    webhook_auth: Option<WebhookAuth>,
    credentials_field: String,
    /// `engines.activepieces.sync_timeout`, until the server says otherwise.
    sync_timeout: Duration,
    /// The platform key's project (`X-PROJECT-ID` on the flows API).
    project_id: Option<String>,
    /// The server's `WEBHOOK_TIMEOUT_SECONDS` as last read, and until when
    /// that reading stands (see [`Self::webhook_timeout`]).
    webhook_timeout: std::sync::Mutex<Option<(Duration, std::time::Instant)>>,
}

/// How long a reading of the server's flags stands; after a failed read,
/// how long the setting stands in for it before the server is asked again.
const FLAGS_FRESH: Duration = Duration::from_secs(600);
const FLAGS_RETRY: Duration = Duration::from_secs(30);

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
            project_id: config.project_id.clone(),
            webhook_timeout: std::sync::Mutex::new(None),
        })
    }

    /// How long Activepieces waits for a flow's reply before answering
    /// "none": its `WEBHOOK_TIMEOUT_SECONDS` flag (`GET /api/v1/flags`, open
    /// to anyone), else `engines.activepieces.sync_timeout`. A reading
    /// stands [`FLAGS_FRESH`] (a 200 without the flag: the server has none);
    /// when the server cannot be asked (down, 5xx, a proxy's 401), the
    /// setting stands in for [`FLAGS_RETRY`], then it is asked again.
    async fn webhook_timeout(&self) -> Duration {
        let now = std::time::Instant::now();
        if let Ok(cached) = self.webhook_timeout.lock()
            && let Some((timeout, until)) = *cached
            && now < until
        {
            return timeout;
        }
        let (timeout, stands) = match self.read_flags().await {
            Ok(Some(timeout)) => (timeout, FLAGS_FRESH),
            Ok(None) => {
                tracing::info!(
                    fallback_s = self.sync_timeout.as_secs(),
                    "Activepieces publishes no WEBHOOK_TIMEOUT_SECONDS flag; using engines.activepieces.sync_timeout"
                );
                (self.sync_timeout, FLAGS_FRESH)
            }
            Err(e) => {
                tracing::debug!(error = %e, "Activepieces flags unavailable; using engines.activepieces.sync_timeout for now");
                (self.sync_timeout, FLAGS_RETRY)
            }
        };
        if self.http.config.call_timeout <= timeout {
            tracing::warn!(
                webhook_timeout_s = timeout.as_secs(),
                call_timeout_s = self.http.config.call_timeout.as_secs(),
                "engines.activepieces.call_timeout (or an agent's timeout_ms) not above Activepieces' \
                 webhook timeout cuts a flow that does not answer off before Activepieces says so"
            );
        }
        if let Ok(mut cached) = self.webhook_timeout.lock() {
            *cached = Some((timeout, now + stands));
        }
        timeout
    }

    /// `WEBHOOK_TIMEOUT_SECONDS` from the server's flags: `Ok(None)` when it
    /// answered without it, `Err` when it could not be asked.
    async fn read_flags(&self) -> Result<Option<Duration>, EngineError> {
        let url = endpoint(&self.base, &["api", "v1", "flags"]);
        let response = self
            .http
            .send(|c| c.get(url.clone()), self.http.config.connect_timeout * 2)
            .await?;
        if !response.status.is_success() {
            return Err(classify_error(&response, &Scrubber::default(), Route::Api));
        }
        let flags: Value =
            serde_json::from_slice(&response.body).map_err(|e| EngineError::InvalidResponse {
                detail: format!("flags are not JSON ({e})"),
            })?;
        Ok(flags
            .get("WEBHOOK_TIMEOUT_SECONDS")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
            .map(Duration::from_secs_f64))
    }

    fn webhook_request(
        &self,
        request: reqwest::RequestBuilder,
        raw_payload: bool,
    ) -> reqwest::RequestBuilder {
        if raw_payload {
            // The bare arguments as the trigger's payload (the MCP trigger
            // checks no auth, so the webhook secret is not sent). The header
            // must be there; Activepieces does not read its value, and this
            // one is no credential.
            return request.header("ap-raw-payload", "true").header(
                reqwest::header::AUTHORIZATION,
                "VieAgent-Gateway raw-payload",
            );
        }
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

    /// A flow with one of its versions: `version_id`'s, or the latest (the
    /// draft) without one.
    async fn get_flow(
        &self,
        flow_id: &str,
        version_id: Option<&str>,
    ) -> Result<Value, EngineError> {
        valid_flow_id(flow_id)?;
        let Some(token) = &self.token else {
            return Err(EngineError::BadInput(
                "reading an Activepieces flow needs engines.activepieces.token (VIEAGENT_ACTIVEPIECES_TOKEN)".into(),
            ));
        };
        let mut url = endpoint(&self.base, &["api", "v1", "flows", flow_id]);
        if let Some(version) = version_id {
            url.query_pairs_mut().append_pair("versionId", version);
        }
        let response = self
            .http
            .send(
                |c| {
                    let request = c.get(url.clone()).bearer_auth(token.expose_secret());
                    // A platform key acts for the project it names.
                    match &self.project_id {
                        Some(project) => request.header("x-project-id", project.as_str()),
                        None => request,
                    }
                },
                self.http.config.call_timeout,
            )
            .await?;
        if !response.status.is_success() {
            return Err(classify_error(&response, &Scrubber::default(), Route::Api));
        }
        serde_json::from_slice(&response.body).map_err(|e| EngineError::InvalidResponse {
            detail: format!("flow is not JSON ({e})"),
        })
    }

    /// The flow as `/sync` runs it (its published version; an unpublished
    /// or disabled flow is refused), or as `/draft/sync` runs it (`draft`:
    /// the latest version, enabled or not).
    async fn describe_flow(
        &self,
        flow_id: &str,
        draft: bool,
    ) -> Result<FlowDescription, EngineError> {
        valid_flow_id(flow_id)?;
        if self.token.is_none() {
            // The flows API takes only Platform/Enterprise API keys: on the
            // Community Edition the agent's inputs come from a file.
            return Ok(FlowDescription {
                name: format!("Activepieces flow {flow_id}"),
                description: "An Activepieces flow".into(),
                engine_config: json!({}),
                warnings: vec![
                    "the flow was not read: engines.activepieces.token is not set (the flows API \
                     needs a Platform or Enterprise API key; the Community Edition has none), so \
                     its inputs come from --input-schema; for an MCP-tool flow also set \
                     engine_config.trigger = \"mcp_tool\" (manifest or admin API) so it gets \
                     its bare arguments"
                        .into(),
                ],
                ..FlowDescription::default()
            });
        }
        let latest = self.get_flow(flow_id, None).await?;
        let published = latest
            .get("publishedVersionId")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let flow = match &published {
            Some(version) if !draft => self.get_flow(flow_id, Some(version)).await?,
            _ => latest,
        };
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
        if published.is_none() && !draft {
            description.publish_blockers.push(
                "the flow has no published version: its webhook would run whatever the draft is \
                 then; publish it in Activepieces first (what was read is the draft)"
                    .into(),
            );
        }
        if flow.get("status").and_then(Value::as_str) == Some("DISABLED") && !draft {
            description
                .publish_blockers
                .push("the flow is disabled in Activepieces; enable it first".into());
        }
        let steps = steps(version);
        let has = |piece: &str, action: &str| steps.iter().any(|(p, a)| p == piece && a == action);
        if piece == MCP_PIECE && trigger == MCP_TRIGGER {
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
            // Its calls send the bare arguments (see `webhook_request`).
            description.engine_config = json!({"trigger": RAW_PAYLOAD_TRIGGER});
            if !has(MCP_PIECE, MCP_REPLY) {
                let ignored = if has(WEBHOOK_PIECE, WEBHOOK_REPLY) {
                    " (its Webhook \"Return Response\" step is ignored: Activepieces answers an \
                     MCP-tool flow only with a step of the MCP piece)"
                } else {
                    ""
                };
                description.publish_blockers.push(format!(
                    "the flow never answers{ignored}: end it with the MCP piece's \"Reply to MCP \
                     Client\" step, or every call waits for Activepieces' webhook timeout and \
                     fails with no response"
                ));
            }
        } else {
            if piece == WEBHOOK_PIECE && !has(WEBHOOK_PIECE, WEBHOOK_REPLY) {
                let other = if has(MCP_PIECE, MCP_REPLY) {
                    " (its \"Reply to MCP Client\" step is ignored: a Catch Webhook flow answers \
                     only with a step of the Webhook piece)"
                } else {
                    ""
                };
                description.warnings.push(format!(
                    "the flow has no Webhook \"Return Response\" step{other}: each call waits for \
                     Activepieces' webhook timeout and ends with no response"
                ));
            }
            description.warnings.push(format!(
                "the flow's trigger ({}) does not declare its inputs; give input_schema in the agent manifest",
                if trigger.is_empty() { "unknown" } else { trigger }
            ));
        }
        Ok(description)
    }
}

/// Which of Activepieces' routes answered: a flow's webhook, or the API.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Webhook,
    Api,
}

/// Fastify's own answer to a path no route serves (`Route POST:/x not
/// found`): not Activepieces speaking, so a wrong base URL.
fn no_such_route(message: &str) -> bool {
    message.starts_with("Route ") && message.ends_with(" not found")
}

fn classify_error(response: &RawResponse, scrub: &Scrubber, route: Route) -> EngineError {
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
        // Fastify's "no such route" (with no x-webhook-id: Activepieces'
        // own answers carry one) is a wrong base URL, whatever was asked.
        404 if no_such_route(&message) && !response.headers.contains_key("x-webhook-id") => {
            EngineError::Unreachable {
                detail: "no Activepieces route answered (HTTP 404: Route … not found): check \
                         engines.activepieces.base_url (the server's address, without /api)"
                    .into(),
            }
        }
        // A webhook's 404 is a disabled flow (current releases add
        // x-webhook-id, older ones do not); the API's, no such flow or
        // version in the key's project.
        404 if route == Route::Webhook => EngineError::FlowDisabled,
        404 => EngineError::FlowNotFound {
            detail: "no such flow (or version) in the project the API key acts for (HTTP 404); \
                     check the flow id and engines.activepieces.project_id"
                .into(),
        },
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

/// An MCP-tool trigger's `inputSchema` as JSON Schema, as Activepieces'
/// own MCP server reads it (`mcpPropertyToZod`, `mcp-server-builder.ts`,
/// 03136c44): Text and Date → string (no format), Number, Boolean, Array →
/// strings, Object → string values, anything else → any value; a field not
/// marked `required: true` is optional and may be `null` (`.nullish()`).
/// The trigger's order is kept.
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
        let is_required = field.get("required").and_then(Value::as_bool) == Some(true);
        let (ty, extra) = match field.get("type").and_then(Value::as_str).unwrap_or("") {
            "Text" | "Date" => (Some("string"), None),
            "Number" => (Some("number"), None),
            "Boolean" => (Some("boolean"), None),
            "Array" => (Some("array"), Some(("items", json!({"type": "string"})))),
            "Object" => (
                Some("object"),
                Some(("additionalProperties", json!({"type": "string"}))),
            ),
            _ => (None, None),
        };
        let mut prop = Map::new();
        if let Some(ty) = ty {
            prop.insert(
                "type".into(),
                if is_required {
                    json!(ty)
                } else {
                    json!([ty, "null"])
                },
            );
        }
        if let Some((key, value)) = extra {
            prop.insert(key.into(), value);
        }
        if let Some(d) = field
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            prop.insert("description".into(), Value::String(d.to_string()));
        }
        properties.insert(name.to_string(), Value::Object(prop));
        if is_required {
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

/// Every `(piece, action)` step of a flow version (the trigger's chain,
/// branches, loops and router children alike).
fn steps(version: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, out: &mut Vec<(String, String)>, depth: usize) {
        if depth > 256 {
            return;
        }
        match value {
            Value::Object(map) => {
                // A skipped step (`skip: true`) never runs, so never answers.
                if map.get("skip").and_then(Value::as_bool) != Some(true)
                    && let Some(settings) = map.get("settings")
                    && let (Some(piece), Some(action)) = (
                        settings.get("pieceName").and_then(Value::as_str),
                        settings.get("actionName").and_then(Value::as_str),
                    )
                {
                    out.push((piece.to_string(), action.to_string()));
                }
                for v in map.values() {
                    walk(v, out, depth + 1);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out, depth + 1)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(version.get("trigger").unwrap_or(&Value::Null), &mut out, 0);
    out
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
        if draft && !credentials.is_empty() {
            // Whatever let the agent be published (`--no-engine-check`):
            // the draft route saves every request as sample data.
            return Err(EngineError::BadInput(DRAFT_WITH_KEYS.into()));
        }
        // The draft route ignores the raw-payload header.
        let raw_payload = !draft
            && options.engine_config.get("trigger").and_then(Value::as_str)
                == Some(RAW_PAYLOAD_TRIGGER);
        let webhook_timeout = self.webhook_timeout().await;
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
                |c| self.webhook_request(c.post(url.clone()).json(&body), raw_payload),
                timeout,
            )
            .await?;
        let external_execution_id = response
            .headers
            .get("x-webhook-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // No reply within Activepieces' webhook timeout: 408 `{}` from 0.86,
        // 204 `{}` before (told from a flow that answered nothing at once by
        // how long it took).
        if response.status.as_u16() == 408 {
            return Err(EngineError::NoResponse {
                after: webhook_timeout,
            });
        }
        if !response.status.is_success() {
            return Err(classify_error(&response, &scrub, Route::Webhook));
        }
        if response.status.as_u16() == 204 || response.body.iter().all(u8::is_ascii_whitespace) {
            if response.elapsed + NO_RESPONSE_MARGIN >= webhook_timeout {
                return Err(EngineError::NoResponse {
                    after: webhook_timeout,
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

    /// The flow as its webhook runs it: the published version (the latest
    /// one is the draft), refused for publishing when there is none.
    async fn describe(&self, flow_id: &str) -> Result<FlowDescription, EngineError> {
        self.describe_flow(flow_id, false).await
    }

    async fn validate(
        &self,
        flow_id: &str,
        required_credential_types: &[String],
        engine_config: &Value,
    ) -> Result<Vec<String>, EngineError> {
        valid_flow_id(flow_id)?;
        let mut blockers = Vec::new();
        if engine_config.get("draft").and_then(Value::as_bool) == Some(true)
            && !required_credential_types.is_empty()
        {
            // /draft/sync saves every request as the flow's sample data, on
            // top of the run's copy.
            blockers.push(DRAFT_WITH_KEYS.to_string());
        }
        if self.token.is_none() {
            // Webhooks need no token; the flow cannot be inspected without one.
            return Ok(blockers);
        }
        let draft = engine_config.get("draft").and_then(Value::as_bool) == Some(true);
        blockers.extend(self.describe_flow(flow_id, draft).await?.publish_blockers);
        Ok(blockers)
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
            Err(classify_error(&response, &Scrubber::default(), Route::Api))
        }
    }

    /// A flow run keeps its trigger's output — the webhook request, body
    /// and `_credentials` included, and in envelope mode its headers (a
    /// Catch Webhook's `webhook_auth` secret among them) — in the run's log
    /// until the data retention ends: `AP_EXECUTION_DATA_RETENTION_DAYS` (30
    /// days by default; 14 in older releases), or since PR #14231 a
    /// project's own `executionDataRetentionDays` (`POST /v1/projects/:id`,
    /// platform admins, at most the instance's). Project members read it in
    /// the run view and `GET /v1/flow-runs/:id`. `/draft/sync` (refused for
    /// agents that send keys) also saves it as sample data, and so does
    /// `/sync` while someone listens for test data in the builder. The sync
    /// answer names no run (only `x-webhook-id`), and no API deletes one run
    /// (runs are an audit log, issue #7452; `POST /v1/flow-runs/archive`
    /// hides them and keeps their data).
    fn retention(&self) -> Retention {
        Retention::Kept(
            "Activepieces keeps each run's webhook request (credentials included) in the run's \
             log until the project's execution data retention (AP_EXECUTION_DATA_RETENTION_DAYS, \
             30 days by default); no API deletes one run"
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

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A server that cannot be asked for its flags is asked again once the
    /// stand-in expires; a reading then stands.
    #[tokio::test]
    async fn a_failed_flags_read_is_not_kept() {
        crate::install_crypto_provider();
        let server = MockServer::start().await;
        let engine = ActivepiecesEngine::new(&ActivepiecesConfig {
            base_url: Some(server.uri().parse().expect("url")),
            sync_timeout: Duration::from_secs(30),
            ..ActivepiecesConfig::default()
        })
        .expect("engine");
        Mock::given(method("GET"))
            .and(path("/api/v1/flags"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        assert_eq!(engine.webhook_timeout().await, Duration::from_secs(30));
        let until = engine
            .webhook_timeout
            .lock()
            .expect("lock")
            .expect("kept")
            .1;
        assert!(
            until <= std::time::Instant::now() + FLAGS_RETRY,
            "only for a while"
        );
        Mock::given(method("GET"))
            .and(path("/api/v1/flags"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"WEBHOOK_TIMEOUT_SECONDS": 12})),
            )
            .mount(&server)
            .await;
        // Still the stand-in until it expires...
        assert_eq!(engine.webhook_timeout().await, Duration::from_secs(30));
        *engine.webhook_timeout.lock().expect("lock") =
            Some((Duration::from_secs(30), std::time::Instant::now()));
        // ...then the server's own value, which stands.
        assert_eq!(engine.webhook_timeout().await, Duration::from_secs(12));
        let until = engine
            .webhook_timeout
            .lock()
            .expect("lock")
            .expect("kept")
            .1;
        assert!(until > std::time::Instant::now() + FLAGS_RETRY);
    }
}
