//! The built-in demo engine: echoes its arguments back. It lets a new user
//! connect an MCP client and call a tool with no Flowise or Activepieces
//! installed. Agents use it when their `engine_config` is `{"builtin": "demo"}`;
//! it is labelled as a demo everywhere it appears.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Engine, EngineError, EngineOutput, FlowDescription, InvokeOptions};
use crate::store::EngineType;
use crate::vault::Credentials;

/// The `engine_config` marking an agent as served by the demo engine.
pub fn demo_engine_config() -> Value {
    json!({"builtin": "demo"})
}

pub fn is_demo(engine_config: &Value) -> bool {
    engine_config.get("builtin").and_then(Value::as_str) == Some("demo")
}

/// The demo agent's input schema.
pub fn demo_input_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "message": {"type": "string", "title": "Message", "description": "Text to echo back", "maxLength": 10000},
            "delay_ms": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0,
                          "title": "Delay (ms)", "description": "Wait this long before answering (to try progress and cancellation)"}
        },
        "required": ["message"],
        "additionalProperties": false
    })
}

#[derive(Debug, Default)]
pub struct DemoEngine;

#[async_trait]
impl Engine for DemoEngine {
    fn engine_type(&self) -> EngineType {
        EngineType::Flowise
    }

    async fn invoke(
        &self,
        _flow_id: &str,
        arguments: &Value,
        credentials: &Credentials,
        _options: &InvokeOptions<'_>,
    ) -> Result<EngineOutput, EngineError> {
        let delay = arguments
            .get("delay_ms")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(10_000);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let message = arguments
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(EngineOutput {
            result: json!({
                "echo": message,
                "arguments": arguments,
                "credentials_received": credentials.providers(),
                "engine": "vieagent built-in demo (echo)"
            }),
            text: format!("[demo echo] {message}"),
            external_execution_id: Some(format!("demo-{}", uuid::Uuid::new_v4())),
            kept_records: Vec::new(),
        })
    }

    async fn describe(&self, _flow_id: &str) -> Result<FlowDescription, EngineError> {
        Ok(FlowDescription {
            name: "Demo: echo".into(),
            description: "DEMO agent served by the gateway's built-in echo engine (no workflow engine needed): returns the message you send.".into(),
            input_schema: Some(demo_input_schema()),
            required_credential_types: Vec::new(),
            engine_config: demo_engine_config(),
            warnings: Vec::new(),
            publish_blockers: Vec::new(),
        })
    }

    async fn validate(&self, _: &str, _: &[String], _: &Value) -> Result<Vec<String>, EngineError> {
        Ok(Vec::new())
    }

    async fn health(&self) -> Result<(), EngineError> {
        Ok(())
    }
}
