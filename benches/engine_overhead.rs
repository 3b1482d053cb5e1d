//! Adapter overhead: `FlowiseEngine::invoke` vs a bare `reqwest` POST of the
//! same body to the same loopback mock, in one run, interleaved.
//! `cargo bench --bench engine_overhead` (prints p50/p99 and writes
//! target/bench-engine-overhead.json).

use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use secrecy::SecretString;
use serde_json::{Value, json};
use vieagent::config::FlowiseConfig;
use vieagent::engines::flowise::FlowiseEngine;
use vieagent::engines::{Engine, InvokeOptions};
use vieagent::vault::Credentials;

const ROUNDS: usize = 20;
const PER_ROUND: usize = 500;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() {
    vieagent::install_crypto_provider();
    // The mock engine runs on its own runtime thread, like a separate process would.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v1/prediction/{id}",
                post(|Json(_body): Json<Value>| async {
                    Json(json!({
                        "text": "Bạn có thể yêu cầu hoàn tiền trong 30 ngày.",
                        "chatId": "c0ffee00-1111-4222-8333-444455556666",
                        "chatMessageId": "0a1b2c3d-4e5f-4061-8273-9a8b7c6d5e4f",
                        "sessionId": "s-1"
                    }))
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("mock addr");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let base = format!("http://{addr}");
        let engine = FlowiseEngine::new(&FlowiseConfig {
            base_url: Some(base.parse().expect("url")),
            api_key: Some(SecretString::from("bench-key")),
            ..FlowiseConfig::default()
        })
        .expect("engine");
        let mut creds = Credentials::default();
        creds.insert("openai", "default", SecretString::from("sk-bench-0123456789"));
        let mode = json!({"input_mode": "question"});
        let options = InvokeOptions::new(&mode);
        let args = json!({"question": "Xin chào, hoàn tiền thế nào?", "tone": "friendly"});
        let bare = reqwest::Client::builder().build().expect("client");
        let url = format!("{base}/api/v1/prediction/9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f");
        let body = json!({
            "question": "Xin chào, hoàn tiền thế nào?",
            "overrideConfig": {"openAIApiKey": "sk-bench-0123456789", "vars": {"tone": "friendly"}},
            "streaming": false
        });
        // Warm up both paths (connections, allocator).
        for _ in 0..500 {
            engine.invoke("9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f", &args, &creds, &options).await.expect("invoke");
            let r = bare.post(&url).bearer_auth("bench-key").json(&body).send().await.expect("send");
            let _: Value = r.json().await.expect("json");
        }
        let mut direct = Vec::with_capacity(ROUNDS * PER_ROUND);
        let mut adapter = Vec::with_capacity(ROUNDS * PER_ROUND);
        for _ in 0..ROUNDS {
            for _ in 0..PER_ROUND {
                let t = Instant::now();
                let r = bare.post(&url).bearer_auth("bench-key").json(&body).send().await.expect("send");
                let v: Value = r.json().await.expect("json");
                std::hint::black_box(v);
                direct.push(t.elapsed());
            }
            for _ in 0..PER_ROUND {
                let t = Instant::now();
                let out = engine
                    .invoke("9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f", &args, &creds, &options)
                    .await
                    .expect("invoke");
                std::hint::black_box(out);
                adapter.push(t.elapsed());
            }
        }
        direct.sort();
        adapter.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let report = json!({
            "calls_each": direct.len(),
            "direct_reqwest_us": {"p50": us(percentile(&direct, 0.5)), "p99": us(percentile(&direct, 0.99))},
            "flowise_adapter_us": {"p50": us(percentile(&adapter, 0.5)), "p99": us(percentile(&adapter, 0.99))},
            "adapter_overhead_us": {
                "p50": us(percentile(&adapter, 0.5)) - us(percentile(&direct, 0.5)),
                "p99": us(percentile(&adapter, 0.99)) - us(percentile(&direct, 0.99))
            }
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-engine-overhead.json");
        std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json")).expect("write report");
    });
}
