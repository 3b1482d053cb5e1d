//! The published OpenAPI documents, pinned: the admin API's and the
//! chat-tools API's, as the running server serves them, must equal the
//! snapshots in `tests/fixtures/openapi/`. A refactoring of the handlers
//! provably leaves the public API alone; a deliberate API change rewrites the
//! snapshot (`VIEAGENT_UPDATE_SNAPSHOTS=1 cargo test openapi::`) and shows up
//! in review as a diff of the document.
//!
//! Compared as JSON values: key order carries no meaning in OpenAPI.

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_openapi_documents_match_their_snapshots() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut mismatched = Vec::new();
    for (path, snapshot) in [
        ("/admin/v1/openapi.json", "admin.json"),
        ("/v1/openapi.json", "chat.json"),
    ] {
        let response = app.http.get(app.url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        let served: Value = response.json().await.expect("JSON");
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/openapi")
            .join(snapshot);
        let pretty = serde_json::to_string_pretty(&served).expect("serialize") + "\n";
        if std::env::var_os("VIEAGENT_UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
            std::fs::write(&file, &pretty).expect("write snapshot");
            continue;
        }
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let pinned: Value = serde_json::from_str(&text).expect("snapshot is JSON");
        if served != pinned {
            let out = std::env::temp_dir().join(format!("vieagent-served-{snapshot}"));
            std::fs::write(&out, &pretty).expect("write served");
            mismatched.push(format!(
                "{path} differs from {}: compare with {}",
                file.display(),
                out.display()
            ));
        }
    }
    app.stop().await.expect("clean stop");
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}
