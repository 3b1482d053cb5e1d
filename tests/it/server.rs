//! The server started in-process through `vieagent::run` on port 0.

use crate::helpers::{Backend, TestApp};

crate::backend_tests!(health_and_readiness, shutdown_returns_cleanly);

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let r = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    let r = app.http.get(app.url("/nope")).send().await.expect("404");
    assert_eq!(r.status(), 404);
    app.stop().await.expect("clean stop");
}

async fn shutdown_returns_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let addr = app.addr;
    app.stop().await.expect("clean stop");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}
