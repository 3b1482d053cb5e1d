//! Flowise (v3 API) adapter.
//!
//! Facts below were read from FlowiseAI/Flowise `packages/server` (3.1.x):
//! * `POST /api/v1/prediction/{id}` — `routes/predictions/index.ts`,
//!   `controllers/predictions/index.ts`, `services/predictions/index.ts`,
//!   `utils/buildChatflow.ts`. The per-flow key is checked by
//!   `utils/validateKey.ts` (`validateFlowAPIKey`): `Authorization: Bearer
//!   <key>`; a flow without `apikeyid` is open. A wrong key is thrown as 401
//!   `Unauthorized` but re-wrapped by the service as **500**
//!   `Error: predictionsServices.buildChatflow - Unauthorized`.
//! * Body (`Interface.ts` `IncomingInput`/`IncomingAgentflowInput`):
//!   `question` or `form` — never both (`utils/buildAgentflow.ts`: "Question
//!   and form cannot be provided at the same time"), `overrideConfig`
//!   (parameters by name, `vars`, `sessionId`), `chatId`, `streaming`.
//! * Overrides are applied by `utils/index.ts` `replaceInputsWithConfig`,
//!   only when the flow's `apiConfig.overrideConfig.status` is true and the
//!   parameter is enabled under `apiConfig.overrideConfig.nodes[<node label>]`
//!   (`[{name, enabled}]`); anything else is **silently dropped** and the node
//!   runs on its stored credential. Node inputs win over stored credentials
//!   (`packages/components/src/utils.ts` `getCredentialParam`), so
//!   `overrideConfig.openAIApiKey` reaches a ChatOpenAI node.
//! * Errors (`middlewares/errors/index.ts`): `{statusCode, success:false,
//!   message}`. Before execution: 400 `Invalid Chatflow ID`, 404 `Chatflow
//!   <id> not found in the database!`, 403 origin, 412 missing id/body, 429
//!   rate limit; anything during execution is 500 with the message.
//! * Response: chatflow `{text|json, question, chatId, chatMessageId,
//!   sessionId, …}`; Agentflow V2 adds `executionId` and
//!   `agentFlowExecutedData` (which echoes node inputs, injected keys
//!   included — dropped here, and the pipeline scrubs every injected value).
//! * `GET /api/v1/ping` → `pong` (`controllers/ping/index.ts`);
//!   `GET /api/v1/chatflows/{id}` (workspace API key) → `{name, type,
//!   flowData, apiConfig, …}` with `flowData`/`apiConfig` as JSON strings.
//! * `overrideConfig.vars` does not reach `{{$vars.x}}` templates in 3.1.x
//!   (FlowiseAI/Flowise#5170, #5204): it reaches code nodes only.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use super::http::{HttpClient, RawResponse, endpoint, valid_flow_id};
use super::{
    Engine, EngineError, EngineOutput, FlowDescription, InvokeOptions, PurgeError, PurgeTarget,
    Retention, RunRef, Stop, excerpt, render_text,
};
use crate::config::{FlowiseConfig, FlowiseCredentialMapping, PurgeCheck};
use crate::scrub::Scrubber;
use crate::store::EngineType;
use crate::vault::Credentials;

/// Built-in credential-type mappings: our type → Flowise credential
/// component names and the `overrideConfig` key carrying the secret.
/// (`packages/components/credentials/*.credential.ts`.)
pub const DEFAULT_CREDENTIAL_MAPPINGS: &[(&str, &[&str], &[&str])] = &[
    ("openai", &["openAIApi"], &["openAIApiKey"]),
    ("anthropic", &["anthropicApi"], &["anthropicApiKey"]),
    (
        "google",
        &["googleGenerativeAI"],
        &["googleGenerativeAPIKey"],
    ),
    ("mistral", &["mistralAIApi"], &["mistralAIAPIKey"]),
    ("groq", &["groqApi"], &["groqApiKey"]),
    ("cohere", &["cohereApi"], &["cohereApiKey"]),
    ("deepseek", &["deepseekApi"], &["deepseekApiKey"]),
    ("openrouter", &["openRouterApi"], &["openRouterApiKey"]),
    ("together", &["togetherAIApi"], &["togetherAIApiKey"]),
];

/// Chat-model components and the credential they use, for Agentflow V2
/// nodes that pick a model by name (`inputs.llmModel`, `inputs.agentModel`)
/// rather than declaring a credential parameter.
/// (`packages/components/nodes/chatmodels/*`.)
const MODEL_CREDENTIALS: &[(&str, &str)] = &[
    ("chatOpenAI", "openAIApi"),
    ("chatOpenAICustom", "openAIApi"),
    ("azureChatOpenAI", "azureOpenAIApi"),
    ("chatAnthropic", "anthropicApi"),
    ("chatGoogleGenerativeAI", "googleGenerativeAI"),
    ("chatMistralAI", "mistralAIApi"),
    ("groqChat", "groqApi"),
    ("chatCohere", "cohereApi"),
    ("chatDeepseek", "deepseekApi"),
    ("chatOpenRouter", "openRouterApi"),
    ("chatTogetherAI", "togetherAIApi"),
];

/// The Flowise response fields kept; engine-internal traces (e.g.
/// `agentFlowExecutedData`, which echoes injected keys) are dropped.
const KEPT_FIELDS: &[&str] = &[
    "text",
    "json",
    "chatId",
    "chatMessageId",
    "sessionId",
    "executionId",
    "sourceDocuments",
    "usedTools",
    "artifacts",
    "fileAnnotations",
    "form",
    "followUpPrompts",
    "action",
];

const VARS_BUG: &str = "some Flowise 3.1.x releases do not apply overrideConfig.vars to {{$vars.x}} \
templates (FlowiseAI/Flowise#5170, seen on 3.1.4): there, variable arguments reach code nodes only and \
prompts keep the stored value; check your Flowise version";

/// How the tool's arguments become the prediction body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputMode {
    /// `question` = arguments.question; other arguments → `overrideConfig.vars`.
    Question,
    /// `form` = arguments (Agentflow V2 Start node with `formInput`).
    Form,
}

fn input_mode(engine_config: &Value) -> InputMode {
    match engine_config.get("input_mode").and_then(Value::as_str) {
        Some("form") => InputMode::Form,
        _ => InputMode::Question,
    }
}

pub struct FlowiseEngine {
    http: HttpClient,
    base: url::Url,
    api_key: Option<SecretString>,
    mappings: BTreeMap<String, FlowiseCredentialMapping>,
    purge: bool,
    purge_check: PurgeCheck,
}

impl FlowiseEngine {
    pub fn new(config: &FlowiseConfig) -> Result<Self, EngineError> {
        let base = config
            .base_url
            .clone()
            .ok_or(EngineError::NotConfigured { engine: "flowise" })?;
        let mut mappings: BTreeMap<String, FlowiseCredentialMapping> = DEFAULT_CREDENTIAL_MAPPINGS
            .iter()
            .map(|(ty, names, keys)| {
                (
                    ty.to_string(),
                    FlowiseCredentialMapping {
                        credential_names: names.iter().map(|s| s.to_string()).collect(),
                        override_keys: keys.iter().map(|s| s.to_string()).collect(),
                    },
                )
            })
            .collect();
        mappings.extend(config.credentials.clone());
        Ok(Self {
            http: HttpClient::new(config.http())?,
            base,
            api_key: config.api_key.clone(),
            mappings,
            purge: config.purge,
            purge_check: config.purge_check,
        })
    }

    /// The credential type a Flowise credential component name stands for.
    fn type_for_credential_name(&self, name: &str) -> Option<&str> {
        self.mappings
            .iter()
            .find(|(_, m)| m.credential_names.iter().any(|n| n == name))
            .map(|(ty, _)| ty.as_str())
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose_secret()),
            None => request,
        }
    }

    /// A management request (flows, executions, chat messages) with the
    /// gateway's API key, within the call timeout.
    async fn manage(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, EngineError> {
        self.http
            .send(|c| self.auth(build(c)), self.http.config.call_timeout)
            .await
    }

    /// The prediction request body for these arguments and credentials.
    fn prediction_body(
        &self,
        arguments: &Value,
        credentials: &Credentials,
        options: &InvokeOptions<'_>,
    ) -> Result<Value, EngineError> {
        let args = arguments
            .as_object()
            .ok_or_else(|| EngineError::BadInput("arguments must be a JSON object".into()))?;
        let mut body = Map::new();
        let mut override_config = Map::new();
        match input_mode(options.engine_config) {
            InputMode::Form => {
                body.insert("form".into(), Value::Object(args.clone()));
            }
            InputMode::Question => {
                let question = args
                    .get("question")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        EngineError::BadInput("this flow needs a `question` string argument".into())
                    })?;
                body.insert("question".into(), Value::String(question.to_string()));
                let vars: Map<String, Value> = args
                    .iter()
                    .filter(|(k, _)| k.as_str() != "question")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !vars.is_empty() {
                    override_config.insert("vars".into(), Value::Object(vars));
                }
            }
        }
        for credential in credentials.iter() {
            let Some(targets) = self.targets_for(&credential.provider, options.engine_config)
            else {
                return Err(EngineError::BadInput(format!(
                    "no Flowise mapping for credential type '{}' (configure engines.flowise.credentials.{})",
                    credential.provider, credential.provider
                )));
            };
            let value = credential.value.expose_secret();
            if value.is_empty() {
                // An empty override makes Flowise fail with "Missing credentials"
                // instead of falling back: never send one.
                return Err(EngineError::BadInput(format!(
                    "the stored {} credential is empty",
                    credential.provider
                )));
            }
            for target in targets {
                match target.split_once('.') {
                    // A node's model config object: merged by Flowise into the node's config.
                    Some((config, key)) => {
                        let entry = override_config
                            .entry(config.to_string())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(obj) = entry {
                            obj.insert(key.to_string(), Value::String(value.to_string()));
                        }
                    }
                    None => {
                        override_config.insert(target, Value::String(value.to_string()));
                    }
                }
            }
        }
        if let Some(session) = options.session_id {
            override_config.insert("sessionId".into(), Value::String(session.to_string()));
        } else if let Some(call_id) = options.call_id {
            // The call's own conversation: Flowise files the call's
            // execution under it (`sessionId` = `chatId`), so a purge finds
            // it even when the answer never arrived.
            body.insert("chatId".into(), Value::String(call_id.to_string()));
        }
        if !override_config.is_empty() {
            body.insert("overrideConfig".into(), Value::Object(override_config));
        }
        body.insert("streaming".into(), Value::Bool(false));
        Ok(Value::Object(body))
    }

    /// Describe a chatflow as `GET /api/v1/chatflows/{id}` returned it
    /// (the schema generator; public for the fuzz targets).
    pub fn describe_chatflow(&self, raw: &Value) -> Result<FlowDescription, EngineError> {
        self.describe_flow(&Chatflow::parse(raw)?)
    }

    fn describe_flow(&self, flow: &Chatflow) -> Result<FlowDescription, EngineError> {
        let mut warnings = Vec::new();
        let mut blockers = Vec::new();
        let (input_schema, engine_config, description) = match flow.start_node() {
            Some(start) => {
                let kind = start
                    .pointer("/data/inputs/startInputType")
                    .and_then(Value::as_str)
                    .unwrap_or("chatInput");
                match kind {
                    "formInput" => {
                        let title = start
                            .pointer("/data/inputs/formTitle")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let desc = start
                            .pointer("/data/inputs/formDescription")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let description = [title, desc]
                            .iter()
                            .filter(|s| !s.trim().is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(": ");
                        (
                            form_schema(start)?,
                            json!({"input_mode": "form"}),
                            description,
                        )
                    }
                    "chatInput" => (
                        question_schema(&overridable_vars(flow, &mut warnings)),
                        json!({"input_mode": "question"}),
                        String::new(),
                    ),
                    other => {
                        blockers.push(format!(
                            "the flow starts with '{other}', which the prediction API cannot run; \
                             use a chat or form Start node"
                        ));
                        (
                            question_schema(&[]),
                            json!({"input_mode": "question"}),
                            String::new(),
                        )
                    }
                }
            }
            None => (
                question_schema(&overridable_vars(flow, &mut warnings)),
                json!({"input_mode": "question"}),
                String::new(),
            ),
        };
        let (used, unmapped) = self.credential_usage(flow);
        let required: Vec<String> = used
            .iter()
            .map(|n| n.ty.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unmapped.is_empty() {
            warnings.push(format!(
                "nodes use Flowise credentials {} that users cannot supply (no mapping); they run on the flow's stored credentials",
                unmapped.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let (targets, problems) = self.injection_plan(flow, &required);
        blockers.extend(problems);
        let mut engine_config = engine_config;
        if !targets.is_empty() {
            engine_config["credential_targets"] = json!(targets);
        }
        Ok(FlowDescription {
            name: flow.name.clone(),
            description: if description.is_empty() {
                format!("{} (Flowise {})", flow.name, flow.flow_type.to_lowercase())
            } else {
                description
            },
            input_schema: Some(input_schema),
            required_credential_types: required,
            engine_config,
            warnings,
            publish_blockers: blockers,
        })
    }

    async fn get_chatflow(&self, flow_id: &str) -> Result<Chatflow, EngineError> {
        valid_flow_id(flow_id)?;
        if self.api_key.is_none() {
            return Err(EngineError::BadInput(
                "reading a Flowise flow needs engines.flowise.api_key (VIEAGENT_FLOWISE_API_KEY): \
                 a Flowise API key with chatflows:view permission"
                    .into(),
            ));
        }
        let url = endpoint(&self.base, &["api", "v1", "chatflows", flow_id]);
        let response = self.manage(|c| c.get(url.clone())).await?;
        if !response.status.is_success() {
            return Err(classify_error(&response, &Scrubber::default(), &[]));
        }
        let raw: Value =
            serde_json::from_slice(&response.body).map_err(|e| EngineError::InvalidResponse {
                detail: format!("chatflow is not JSON ({e})"),
            })?;
        Chatflow::parse(&raw)
    }

    /// The Agentflow V2 runs filed under one conversation of a flow
    /// (`GET /api/v1/executions`, `services/executions`: filters
    /// `agentflowId`, `sessionId`, `startDate`; newest first, paged).
    /// Rows outside the asked conversation are never returned, whatever
    /// filters the engine honours.
    async fn find_executions(
        &self,
        target: &PurgeTarget,
        session: &str,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<ExecutionRef>, EngineError> {
        let mut found: Vec<ExecutionRef> = Vec::new();
        for page in 1..=LIST_PAGES {
            let mut url = endpoint(&self.base, &["api", "v1", "executions"]);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("agentflowId", &target.flow_id);
                query.append_pair("sessionId", session);
                if let Some(since) = since {
                    query.append_pair(
                        "startDate",
                        &since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    );
                }
                query.append_pair("limit", &LIST_PAGE_SIZE.to_string());
                query.append_pair("page", &page.to_string());
            }
            let response = self.manage(|c| c.get(url.clone())).await?;
            if !response.status.is_success() {
                return Err(management_error(&response, "executions:view"));
            }
            let listed: ExecutionPage = serde_json::from_slice(&response.body).map_err(|e| {
                EngineError::InvalidResponse {
                    detail: format!("the executions list is not the expected JSON ({e})"),
                }
            })?;
            let count = listed.data.len();
            for execution in listed.data {
                let ours = execution.session_id.as_deref() == Some(session)
                    && execution
                        .agentflow_id
                        .as_deref()
                        .is_none_or(|flow| flow == target.flow_id);
                if !ours {
                    tracing::warn!(
                        "Flowise listed an execution outside the asked conversation; \
                         it is left alone (does this Flowise honour the executions filters?)"
                    );
                    continue;
                }
                if valid_flow_id(&execution.id).is_ok()
                    && !found.iter().any(|f| f.id == execution.id)
                {
                    found.push(execution);
                }
            }
            if count < LIST_PAGE_SIZE || found.len() as u64 >= listed.total {
                break;
            }
        }
        Ok(found)
    }

    /// `DELETE /api/v1/executions/{id}`: `{success, deletedCount}`; a
    /// missing execution deletes nothing and is still a success.
    async fn delete_execution(&self, id: &str) -> Result<u64, EngineError> {
        let url = endpoint(&self.base, &["api", "v1", "executions", id]);
        let response = self.manage(|c| c.delete(url.clone())).await?;
        if response.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(0);
        }
        if !response.status.is_success() {
            return Err(management_error(&response, "executions:delete"));
        }
        Ok(serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v.get("deletedCount").and_then(Value::as_u64))
            .unwrap_or(0))
    }

    /// `DELETE /api/v1/chatmessage/{flow}?chatId=…`: the messages of a
    /// conversation the gateway opened for one call. They do not hold the
    /// injected key (checked on Flowise 3.1.2), so this is tidying, not
    /// secrecy: a failure is logged, not retried.
    async fn delete_call_messages(&self, flow_id: &str, chat_id: &str) {
        let mut url = endpoint(&self.base, &["api", "v1", "chatmessage", flow_id]);
        url.query_pairs_mut().append_pair("chatId", chat_id);
        match self.manage(|c| c.delete(url.clone())).await {
            Ok(response) if response.status.is_success() => {}
            Ok(response) => tracing::warn!(
                status = response.status.as_u16(),
                "Flowise did not delete the call's chat messages"
            ),
            Err(e) => tracing::warn!(error = %e, "Flowise did not delete the call's chat messages"),
        }
    }

    /// The purge permission check for an agent injecting `required`
    /// credentials, as (publish blockers, warnings) by `purge_check`.
    async fn purge_check(
        &self,
        required: &[String],
    ) -> Result<(Vec<String>, Vec<String>), EngineError> {
        if !self.purge || required.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let problems = self.purge_permission_problems().await?;
        Ok(match self.purge_check {
            PurgeCheck::Refuse => (problems, Vec::new()),
            PurgeCheck::Warn => (Vec::new(), problems),
        })
    }

    /// Whether the gateway's API key may find and delete executions, as a
    /// purge needs: problems naming the missing permission (empty = ok).
    /// Deleting an empty list changes nothing (`{"success":true,
    /// "deletedCount":0}` on Flowise 3.1.2) but goes through the route's
    /// permission check.
    async fn purge_permission_problems(&self) -> Result<Vec<String>, EngineError> {
        let mut problems = Vec::new();
        let mut url = endpoint(&self.base, &["api", "v1", "executions"]);
        url.query_pairs_mut().append_pair("limit", "1");
        let listed = self.manage(|c| c.get(url.clone())).await?;
        if listed.status == reqwest::StatusCode::NOT_FOUND
            || (listed.status.is_success()
                && serde_json::from_slice::<ExecutionPage>(&listed.body).is_err())
        {
            problems.push(
                "this Flowise has no executions API (Flowise 3.0 or later is needed to purge \
                 the copies of users' keys it keeps); or set engines.flowise.purge_check = \"warn\""
                    .to_string(),
            );
            return Ok(problems);
        }
        if !listed.status.is_success() {
            problems.push(purge_problem(&listed, "executions:view"));
        }
        let url = endpoint(&self.base, &["api", "v1", "executions"]);
        let deleted = self
            .manage(|c| c.delete(url.clone()).json(&json!({"executionIds": []})))
            .await?;
        if !deleted.status.is_success() {
            problems.push(purge_problem(&deleted, "executions:delete"));
        }
        Ok(problems)
    }

    /// Which credential types each node needs, plus Flowise credential
    /// names with no mapping (those stay the flow's own).
    fn credential_usage(&self, flow: &Chatflow) -> (Vec<NodeCredential>, BTreeSet<String>) {
        let mut used = Vec::new();
        let mut unmapped = BTreeSet::new();
        for node in &flow.nodes {
            for (name, model_config) in node_credential_names(node) {
                match self.type_for_credential_name(&name) {
                    Some(ty) => used.push(NodeCredential {
                        label: node_label(node),
                        ty: ty.to_string(),
                        model_config,
                    }),
                    None => {
                        unmapped.insert(name);
                    }
                }
            }
        }
        used.sort();
        used.dedup();
        (used, unmapped)
    }

    /// Where each required credential must be injected so that every node
    /// using it really receives it, and the problems that would make Flowise
    /// silently drop it. A node accepts the value as a top-level override key
    /// it has enabled (e.g. `openAIApiKey` on a ChatOpenAI node labelled
    /// `OpenAI`), or — Agentflow V2 model nodes — inside its enabled model
    /// config parameter (`llmModelConfig.openAIApiKey`; recorded on Flowise
    /// 3.1.2: the UI offers `llmModelConfig`, not `openAIApiKey`, for LLM nodes).
    fn injection_plan(
        &self,
        flow: &Chatflow,
        required: &[String],
    ) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
        let (used, _) = self.credential_usage(flow);
        let mut targets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut problems = Vec::new();
        for ty in required {
            let Some(mapping) = self.mappings.get(ty) else {
                problems.push(format!(
                    "credential type '{ty}' has no Flowise mapping, so it cannot be injected \
                     (configure engines.flowise.credentials.{ty} with credential_names and override_keys)"
                ));
                continue;
            };
            let nodes: Vec<&NodeCredential> = used.iter().filter(|n| &n.ty == ty).collect();
            if nodes.is_empty() {
                continue;
            }
            if !flow.override_status {
                problems.push(format!(
                    "the flow does not allow overriding its configuration (Flowise: API Endpoint → \
                     Configuration → Security → Override Config is off), so the user's {ty} key \
                     would be silently dropped and the flow would run on its stored credential"
                ));
                continue;
            }
            for node in nodes {
                let enabled = flow.enabled_params(&node.label);
                if let Some(key) = mapping.override_keys.iter().find(|k| enabled.contains(*k)) {
                    targets.entry(ty.clone()).or_default().insert(key.clone());
                } else if let Some(config) =
                    node.model_config.as_ref().filter(|c| enabled.contains(*c))
                    && let Some(key) = mapping.override_keys.first()
                {
                    targets
                        .entry(ty.clone())
                        .or_default()
                        .insert(format!("{config}.{key}"));
                } else {
                    problems.push(format!(
                        "node '{}' does not allow overriding {}{} (enable it under Override Config), \
                         so the user's {ty} key would be silently dropped",
                        node.label,
                        mapping.override_keys.join(" / "),
                        node.model_config.as_ref().map(|c| format!(" or {c}")).unwrap_or_default()
                    ));
                }
            }
        }
        (targets, problems)
    }

    /// The `overrideConfig` paths a provider's value is injected at: the
    /// agent's recorded targets, else the mapping's top-level keys.
    fn targets_for(&self, provider: &str, engine_config: &Value) -> Option<Vec<String>> {
        let recorded: Vec<String> = engine_config
            .pointer(&format!("/credential_targets/{provider}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if !recorded.is_empty() {
            return Some(recorded);
        }
        self.mappings.get(provider).map(|m| m.override_keys.clone())
    }
}

/// A node that needs a credential type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NodeCredential {
    label: String,
    ty: String,
    /// For Agentflow V2 model nodes: the config parameter holding model settings.
    model_config: Option<String>,
}

/// What the gateway reads from `GET /api/v1/chatflows/{id}`.
#[derive(Debug, Default)]
struct Chatflow {
    name: String,
    flow_type: String,
    nodes: Vec<Value>,
    raw_flow_data: String,
    override_status: bool,
    /// node label → enabled parameter names.
    override_nodes: BTreeMap<String, BTreeSet<String>>,
    /// enabled variable names.
    override_variables: BTreeSet<String>,
}

impl Chatflow {
    fn parse(raw: &Value) -> Result<Self, EngineError> {
        let invalid = |detail: &str| EngineError::InvalidResponse {
            detail: detail.to_string(),
        };
        let flow_data_text = raw
            .get("flowData")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("chatflow has no flowData"))?;
        let flow_data: Value = serde_json::from_str(flow_data_text)
            .map_err(|_| invalid("chatflow flowData is not valid JSON"))?;
        let nodes = flow_data
            .get("nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let api_config: Value = match raw.get("apiConfig") {
            Some(Value::String(s)) if !s.trim().is_empty() => serde_json::from_str(s)
                .map_err(|_| invalid("chatflow apiConfig is not valid JSON"))?,
            Some(Value::Object(o)) => Value::Object(o.clone()),
            _ => Value::Null,
        };
        let override_config = api_config.get("overrideConfig");
        let override_status = override_config
            .and_then(|o| o.get("status"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut override_nodes = BTreeMap::new();
        if let Some(nodes) = override_config
            .and_then(|o| o.get("nodes"))
            .and_then(Value::as_object)
        {
            for (label, params) in nodes {
                let enabled: BTreeSet<String> = params
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p.get("enabled").and_then(Value::as_bool).unwrap_or(false))
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect();
                override_nodes.insert(label.clone(), enabled);
            }
        }
        let override_variables = override_config
            .and_then(|o| o.get("variables"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v.get("enabled").and_then(Value::as_bool).unwrap_or(false))
            .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        Ok(Self {
            name: raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("Flowise flow")
                .to_string(),
            flow_type: raw
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("CHATFLOW")
                .to_string(),
            nodes,
            raw_flow_data: flow_data_text.to_string(),
            override_status,
            override_nodes,
            override_variables,
        })
    }

    fn enabled_params(&self, label: &str) -> BTreeSet<String> {
        self.override_nodes.get(label).cloned().unwrap_or_default()
    }

    fn start_node(&self) -> Option<&Value> {
        self.nodes
            .iter()
            .find(|n| n.pointer("/data/name").and_then(Value::as_str) == Some("startAgentflow"))
    }
}

fn node_label(node: &Value) -> String {
    node.pointer("/data/label")
        .and_then(Value::as_str)
        .or_else(|| node.pointer("/data/id").and_then(Value::as_str))
        .unwrap_or("?")
        .to_string()
}

/// Flowise credential component names a node uses: declared credential
/// parameters (chatflow nodes), or the model an Agentflow V2 node picks by
/// name (`inputs.llmModel`, `inputs.agentModel`), with that node's model
/// config parameter (`llmModelConfig`).
fn node_credential_names(node: &Value) -> BTreeSet<(String, Option<String>)> {
    let mut names = BTreeSet::new();
    let data = node.get("data").unwrap_or(&Value::Null);
    let credential_params = data
        .get("inputParams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(data.get("credential").filter(|c| c.is_object()));
    for param in credential_params {
        if param.get("type").and_then(Value::as_str) == Some("credential") {
            for name in param
                .get("credentialNames")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                names.insert((name.to_string(), None));
            }
        }
    }
    if names.is_empty()
        && let Some(component) = data.get("name").and_then(Value::as_str)
        && let Some((_, cred)) = MODEL_CREDENTIALS.iter().find(|(m, _)| *m == component)
        && data
            .get("credential")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
    {
        names.insert((cred.to_string(), None));
    }
    if let Some(inputs) = data.get("inputs").and_then(Value::as_object) {
        for (key, value) in inputs {
            if key.ends_with("Model")
                && let Some(model) = value.as_str()
                && let Some((_, cred)) = MODEL_CREDENTIALS.iter().find(|(m, _)| *m == model)
            {
                names.insert((cred.to_string(), Some(format!("{key}Config"))));
            }
        }
    }
    names
}

/// `$vars.name` references anywhere in the flow, in order of first use.
fn referenced_vars(flow_data: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = flow_data;
    while let Some(at) = rest.find("$vars.") {
        rest = &rest[at + "$vars.".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// `$vars` the flow references and allows overriding (they become optional
/// tool arguments); warns about the rest and about Flowise#5170.
fn overridable_vars(flow: &Chatflow, warnings: &mut Vec<String>) -> Vec<String> {
    let (enabled, disabled): (Vec<String>, Vec<String>) = referenced_vars(&flow.raw_flow_data)
        .into_iter()
        .partition(|v| flow.override_status && flow.override_variables.contains(v));
    if !disabled.is_empty() {
        warnings.push(format!(
            "the flow uses $vars {} but does not allow overriding them; they are not tool arguments",
            disabled.join(", ")
        ));
    }
    if !enabled.is_empty() {
        warnings.push(format!("{VARS_BUG} (variables: {})", enabled.join(", ")));
    }
    enabled
}

/// JSON Schema for a chat-style flow: a required `question` and one optional
/// string per overridable `$vars` variable.
fn question_schema(vars: &[String]) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "question".into(),
        json!({"type": "string", "title": "Question", "description": "The message sent to the flow"}),
    );
    for var in vars {
        properties.insert(
            var.clone(),
            json!({"type": "string", "title": var, "description": format!("Flow variable $vars.{var}")}),
        );
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": ["question"],
        "additionalProperties": false
    })
}

/// JSON Schema for an Agentflow V2 form Start node (`inputs.formInputTypes`).
fn form_schema(start: &Value) -> Result<Value, EngineError> {
    let fields = start
        .pointer("/data/inputs/formInputTypes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if fields.is_empty() {
        return Err(EngineError::InvalidResponse {
            detail: "the Start node uses form input but defines no form fields".into(),
        });
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in &fields {
        let Some(name) = field
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let label = field.get("label").and_then(Value::as_str).unwrap_or(name);
        let mut prop = match field
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string")
        {
            "number" => json!({"type": "number"}),
            "boolean" => json!({"type": "boolean"}),
            "options" => {
                let options: Vec<Value> = field
                    .get("addOptions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("option").and_then(Value::as_str))
                    .map(|o| Value::String(o.to_string()))
                    .collect();
                json!({"type": "string", "enum": options})
            }
            _ => json!({"type": "string"}),
        };
        prop["title"] = Value::String(label.to_string());
        prop["description"] = Value::String(label.to_string());
        properties.insert(name.to_string(), prop);
        required.push(Value::String(name.to_string()));
    }
    Ok(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    }))
}

/// Classify a non-2xx Flowise answer. `injected` names the credential types
/// sent, to say whose key a provider rejected.
fn classify_error(response: &RawResponse, scrub: &Scrubber, injected: &[&str]) -> EngineError {
    let status = response.status.as_u16();
    let text = String::from_utf8_lossy(&response.body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.to_string());
    let message = scrub.text(&message).into_owned();
    let inner = message
        .trim()
        .trim_start_matches("Error: ")
        .trim_start_matches("predictionsServices.buildChatflow - ")
        .trim();
    let lower = inner.to_ascii_lowercase();
    match status {
        401 | 403 if lower.contains("origin") || lower.contains("not allowed") => {
            EngineError::Rejected {
                status,
                message: excerpt(inner, 300),
            }
        }
        401 | 403 => EngineError::GatewayRejected { status },
        404 => EngineError::FlowNotFound {
            detail: excerpt(inner, 200),
        },
        400 if lower.contains("invalid chatflow id") => EngineError::FlowNotFound {
            detail: excerpt(inner, 200),
        },
        429 => EngineError::RateLimited,
        413 => EngineError::PayloadTooLarge,
        300..=399 => EngineError::InvalidResponse {
            detail: format!("the engine redirected (HTTP {status}); redirects are not followed"),
        },
        400..=499 => EngineError::Rejected {
            status,
            message: excerpt(inner, 300),
        },
        _ => {
            // Flowise wraps execution failures as 500: classify by message.
            if inner == "Unauthorized" || inner.ends_with("- Unauthorized") {
                EngineError::GatewayRejected { status }
            } else if provider_rejected_key(&lower) {
                EngineError::CredentialRejected {
                    provider: match injected {
                        [one] => one.to_string(),
                        [] => "provider".to_string(),
                        many => many.join(" or "),
                    },
                }
            } else if lower.contains("question and form cannot be provided at the same time") {
                EngineError::Rejected {
                    status,
                    message: excerpt(inner, 300),
                }
            } else {
                EngineError::Failed {
                    status,
                    excerpt: excerpt(inner, 300),
                }
            }
        }
    }
}

/// A model provider refusing the user's key, as Flowise reports it
/// (e.g. "401 Unauthorized – check your API key …", "Incorrect API key provided").
fn provider_rejected_key(lower: &str) -> bool {
    (lower.contains("401") && (lower.contains("api key") || lower.contains("unauthorized")))
        || lower.contains("incorrect api key")
        || lower.contains("invalid api key")
        || lower.contains("invalid x-api-key")
        || lower.contains("invalid_api_key")
        || lower.contains("authentication_error")
}

/// How long a request to stop a run may take.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Executions listed per page, and pages read at most, by a purge's lookup.
const LIST_PAGE_SIZE: usize = 25;
const LIST_PAGES: usize = 40;
/// A run still `INPROGRESS` this long is taken as dead and purged anyway.
const STALE_RUN: chrono::Duration = chrono::Duration::hours(1);
/// A call that never answered may have its run filed this late.
const LATE_RECORDS: chrono::Duration = chrono::Duration::minutes(2);

/// One page of `GET /api/v1/executions`: `{data: [...], total}`. Only what
/// a purge needs is read (`executionData`, which holds the request, is not).
#[derive(serde::Deserialize)]
struct ExecutionPage {
    data: Vec<ExecutionRef>,
    #[serde(default)]
    total: u64,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionRef {
    id: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    agentflow_id: Option<String>,
    #[serde(default)]
    created_date: Option<chrono::DateTime<chrono::Utc>>,
}

/// A refused management request (executions), naming the permission the
/// gateway's Flowise API key lacks.
fn management_error(response: &RawResponse, permission: &str) -> EngineError {
    match response.status.as_u16() {
        401 => EngineError::GatewayRejected { status: 401 },
        404 => EngineError::Rejected {
            status: 404,
            message: "this Flowise has no executions API (Flowise 3.0 or later is needed)".into(),
        },
        403 => EngineError::Rejected {
            status: 403,
            message: format!(
                "the gateway's Flowise API key lacks the `{permission}` permission; \
                 give it that permission in Flowise (API Keys)"
            ),
        },
        _ => classify_error(response, &Scrubber::default(), &[]),
    }
}

/// A publish-check problem for a refused management request.
fn purge_problem(response: &RawResponse, permission: &str) -> String {
    format!(
        "the gateway cannot purge the copies of users' keys that Flowise keeps in its executions: {}; \
         or set engines.flowise.purge_check = \"warn\" to publish anyway",
        management_error(response, permission)
    )
}

#[async_trait]
impl Engine for FlowiseEngine {
    fn engine_type(&self) -> EngineType {
        EngineType::Flowise
    }

    async fn invoke(
        &self,
        flow_id: &str,
        arguments: &Value,
        credentials: &Credentials,
        options: &InvokeOptions<'_>,
    ) -> Result<EngineOutput, EngineError> {
        valid_flow_id(flow_id)?;
        let body = self.prediction_body(arguments, credentials, options)?;
        let url = endpoint(&self.base, &["api", "v1", "prediction", flow_id]);
        let timeout = options.timeout.unwrap_or(self.http.config.call_timeout);
        let scrub = Scrubber::new(credentials.iter().map(|c| c.value.expose_secret()));
        let response = self
            .http
            .send(|c| self.auth(c.post(url.clone()).json(&body)), timeout)
            .await?;
        if !response.status.is_success() {
            let injected: Vec<&str> = credentials.providers();
            return Err(classify_error(&response, &scrub, &injected));
        }
        let parsed: Value =
            serde_json::from_slice(&response.body).map_err(|e| EngineError::InvalidResponse {
                detail: format!(
                    "Flowise answered HTTP {} with a body that is not JSON ({e})",
                    response.status.as_u16()
                ),
            })?;
        let Value::Object(fields) = parsed else {
            return Err(EngineError::InvalidResponse {
                detail: "Flowise answered with JSON that is not an object".into(),
            });
        };
        let external_execution_id = fields
            .get("executionId")
            .or_else(|| fields.get("chatMessageId"))
            .and_then(Value::as_str)
            .map(str::to_string);
        // An Agentflow V2 run is kept as an execution holding the request.
        let kept_records: Vec<String> = fields
            .get("executionId")
            .and_then(Value::as_str)
            .filter(|id| valid_flow_id(id).is_ok())
            .map(str::to_string)
            .into_iter()
            .collect();
        let result: Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| KEPT_FIELDS.contains(&k.as_str()))
            .collect();
        let text = match (result.get("text"), result.get("json")) {
            (Some(Value::String(t)), _) if !t.trim().is_empty() => t.clone(),
            (_, Some(json)) => render_text(json),
            (Some(other), _) => render_text(other),
            _ => String::new(),
        };
        Ok(EngineOutput {
            result: Value::Object(result),
            text,
            external_execution_id,
            kept_records,
        })
    }

    async fn describe(&self, flow_id: &str) -> Result<FlowDescription, EngineError> {
        let flow = self.get_chatflow(flow_id).await?;
        let mut description = self.describe_flow(&flow)?;
        let (blockers, warnings) = self
            .purge_check(&description.required_credential_types)
            .await?;
        description.publish_blockers.extend(blockers);
        description.warnings.extend(warnings);
        Ok(description)
    }

    async fn validate(
        &self,
        flow_id: &str,
        required_credential_types: &[String],
        engine_config: &Value,
    ) -> Result<Vec<String>, EngineError> {
        let flow = self.get_chatflow(flow_id).await?;
        let (targets, mut problems) = self.injection_plan(&flow, required_credential_types);
        for (ty, needed) in &targets {
            let configured: BTreeSet<String> = self
                .targets_for(ty, engine_config)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let missing: Vec<&String> = needed.difference(&configured).collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "the flow needs the {ty} key injected at {} but the agent's engine_config.credential_targets \
                     does not include it; re-import the agent from the flow",
                    missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let form_flow = flow.start_node().is_some_and(|s| {
            s.pointer("/data/inputs/startInputType")
                .and_then(Value::as_str)
                == Some("formInput")
        });
        match (input_mode(engine_config), form_flow) {
            (InputMode::Form, false) => problems.push(
                "engine_config.input_mode is 'form' but the flow's Start node does not take form input".into(),
            ),
            (InputMode::Question, true) => problems.push(
                "the flow's Start node takes form input; set engine_config.input_mode = 'form'".into(),
            ),
            _ => {}
        }
        let (blockers, warnings) = self.purge_check(required_credential_types).await?;
        for warning in warnings {
            tracing::warn!(flow_id, "{warning}");
        }
        problems.extend(blockers);
        Ok(problems)
    }

    async fn health(&self) -> Result<(), EngineError> {
        let url = endpoint(&self.base, &["api", "v1", "ping"]);
        let response = self
            .http
            .send(|c| c.get(url.clone()), self.http.config.connect_timeout * 2)
            .await?;
        if response.status.is_success() && response.body.as_ref().starts_with(b"pong") {
            Ok(())
        } else {
            Err(EngineError::InvalidResponse {
                detail: format!("ping answered HTTP {}", response.status.as_u16()),
            })
        }
    }

    fn retention(&self) -> Retention {
        if !self.purge {
            Retention::Kept(
                "purging is turned off (engines.flowise.purge = false): Flowise keeps the injected \
                 key in its execution records"
                    .into(),
            )
        } else if self.api_key.is_none() {
            Retention::Kept(
                "engines.flowise.api_key is not set, so the gateway cannot delete the execution \
                 records in which Flowise keeps the injected key"
                    .into(),
            )
        } else {
            Retention::Purgeable
        }
    }

    /// Agentflow V2 runs keep the whole request, injected keys included, in
    /// `execution.executionData` (seen on Flowise 3.1.2 and 3.1.4). An
    /// answered call named its run (`executionId`); otherwise the run is
    /// looked up by the call's conversation. Chatflows keep no execution.
    async fn purge(&self, target: &PurgeTarget) -> Result<u64, PurgeError> {
        valid_flow_id(&target.flow_id)?;
        let now = chrono::Utc::now();
        let mut ids: Vec<String> = target
            .record_ids
            .iter()
            .filter(|id| valid_flow_id(id).is_ok())
            .cloned()
            .collect();
        if !target.answered {
            let conversation = match (&target.call_chat_id, &target.session_id) {
                (Some(chat), _) => Some((chat.as_str(), None)),
                (None, Some(session)) => Some((session.as_str(), Some(target.since))),
                (None, None) => None,
            };
            if let Some((session, since)) = conversation {
                let found = self.find_executions(target, session, since).await?;
                if found.is_empty() && now - target.since < LATE_RECORDS {
                    // The run may not be filed yet.
                    return Err(PurgeError::InProgress);
                }
                for execution in found {
                    let running = execution.state.as_deref() == Some("INPROGRESS")
                        && execution
                            .created_date
                            .is_none_or(|created| now - created < STALE_RUN);
                    if running {
                        return Err(PurgeError::InProgress);
                    }
                    if !ids.contains(&execution.id) {
                        ids.push(execution.id);
                    }
                }
            }
        }
        let mut deleted = 0;
        for id in &ids {
            deleted += self.delete_execution(id).await?;
        }
        if let Some(chat_id) = &target.call_chat_id {
            self.delete_call_messages(&target.flow_id, chat_id).await;
        }
        Ok(deleted)
    }

    /// `PUT /api/v1/chatmessage/abort/{flow}/{chatId}` (Flowise 3.x,
    /// `routes/chat-messages`): aborts the prediction filed under
    /// `{flow}_{chatId}` in Flowise's abort-controller pool (in queue mode,
    /// through its workers). It stops Agentflow V2 and multi-agent runs, at
    /// the next node or inside an LLM, agent, tool or retriever node, which
    /// then end `TERMINATED`; a chatflow's chain runs to its end (Flowise
    /// passes it no abort signal). Flowise answers 200 whether or not
    /// anything was running.
    async fn stop(&self, run: &RunRef) -> Result<Stop, EngineError> {
        valid_flow_id(&run.flow_id)?;
        let url = endpoint(
            &self.base,
            &[
                "api",
                "v1",
                "chatmessage",
                "abort",
                &run.flow_id,
                &run.conversation,
            ],
        );
        let response = self
            .http
            .send(|c| self.auth(c.put(url.clone())), STOP_TIMEOUT)
            .await?;
        match response.status.as_u16() {
            200..=299 => Ok(Stop::Requested),
            401 | 403 => Err(EngineError::GatewayRejected {
                status: response.status.as_u16(),
            }),
            _ => Err(classify_error(&response, &Scrubber::default(), &[])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_are_found_once_in_order() {
        let flow = r#"{"prompt":"Hi {{$vars.name}} from {{ $vars.city }} and {{$vars.name}}", "x": "$vars."}"#;
        assert_eq!(
            referenced_vars(flow),
            vec!["name".to_string(), "city".to_string()]
        );
    }

    #[test]
    fn provider_key_rejection_is_recognized() {
        for m in [
            "401 unauthorized – check your api key and ensure it has access to the requested model.",
            "error: 401 incorrect api key provided: sk-abc***",
            "invalid x-api-key",
        ] {
            assert!(provider_rejected_key(m), "{m}");
        }
        assert!(!provider_rejected_key("node failed: timeout"));
    }
}
