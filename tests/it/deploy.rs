//! The deployment files: Kubernetes manifests parse and carry what an
//! operator relies on (probes, resources, non-root read-only pods, names
//! that match), their settings are ones the binary accepts, and the
//! Dockerfile keeps its promises. (CI also runs hadolint and a schema
//! validator over them; there is no Docker engine or cluster here.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::{run_cli_with, text};

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests/deploy")
}

fn load(name: &str) -> Value {
    let path = deploy_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing {pointer}"))
}

#[test]
fn the_deployment_runs_two_probed_non_root_read_only_replicas() {
    let d = load("deployment.yaml");
    assert_eq!(str_at(&d, "/kind"), "Deployment");
    assert_eq!(d.pointer("/spec/replicas"), Some(&Value::from(2)));
    let pod = d.pointer("/spec/template/spec").expect("pod spec");
    assert_eq!(
        pod.pointer("/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    assert_ne!(
        pod.pointer("/securityContext/runAsUser"),
        Some(&Value::from(0))
    );
    let c = pod.pointer("/containers/0").expect("container");
    assert_eq!(str_at(c, "/readinessProbe/httpGet/path"), "/readyz");
    assert_eq!(str_at(c, "/livenessProbe/httpGet/path"), "/healthz");
    for key in [
        "/resources/requests/cpu",
        "/resources/requests/memory",
        "/resources/limits/cpu",
        "/resources/limits/memory",
    ] {
        assert!(c.pointer(key).is_some(), "{key}");
    }
    assert_eq!(
        c.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        c.pointer("/securityContext/allowPrivilegeEscalation"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        c.pointer("/ports/0/containerPort"),
        Some(&Value::from(8080))
    );
    assert_eq!(c.pointer("/args/0").and_then(Value::as_str), Some("serve"));
    // Labels select the pods; the Service finds them and the named port.
    let labels = d.pointer("/spec/template/metadata/labels").expect("labels");
    let selector = d.pointer("/spec/selector/matchLabels").expect("selector");
    for (k, v) in selector.as_object().expect("map") {
        assert_eq!(labels.get(k), Some(v), "selector {k}");
    }
    let s = load("service.yaml");
    for (k, v) in s
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .expect("service selector")
    {
        assert_eq!(labels.get(k), Some(v), "service selector {k}");
    }
    assert_eq!(
        str_at(&s, "/spec/ports/0/targetPort"),
        str_at(c, "/ports/0/name")
    );
    // Configuration comes from the ConfigMap and the Secret, by name.
    let cm = load("configmap.yaml");
    let secret = load("secret.example.yaml");
    let from: Vec<(&str, &str)> = c
        .pointer("/envFrom")
        .and_then(Value::as_array)
        .expect("envFrom")
        .iter()
        .map(|e| {
            if let Some(name) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
                ("ConfigMap", name)
            } else {
                ("Secret", str_at(e, "/secretRef/name"))
            }
        })
        .collect();
    assert_eq!(
        from,
        [
            ("ConfigMap", str_at(&cm, "/metadata/name")),
            ("Secret", str_at(&secret, "/metadata/name"))
        ]
    );
    // SIGTERM grace: Kubernetes waits longer than the gateway's own grace.
    let grace =
        humantime::parse_duration(str_at(&cm, "/data/VIEAGENT_SHUTDOWN_GRACE")).expect("duration");
    let k8s_grace = pod
        .pointer("/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .expect("terminationGracePeriodSeconds");
    assert!(
        k8s_grace > grace.as_secs() + 10,
        "{k8s_grace} s vs {grace:?}"
    );
}

#[test]
fn the_secret_template_and_the_migration_job_are_complete() {
    let secret = load("secret.example.yaml");
    assert_eq!(str_at(&secret, "/kind"), "Secret");
    for key in [
        "VIEAGENT_DATABASE_URL",
        "VIEAGENT_MASTER_KEY",
        "VIEAGENT_ADMIN_TOKEN",
    ] {
        let value = str_at(&secret, &format!("/stringData/{key}"));
        assert!(
            value.contains("REPLACE_ME"),
            "{key} is a placeholder, not a secret"
        );
    }
    let job = load("migrate-job.yaml");
    assert_eq!(str_at(&job, "/kind"), "Job");
    let c = job
        .pointer("/spec/template/spec/containers/0")
        .expect("container");
    assert_eq!(
        c.pointer("/args/0").and_then(Value::as_str),
        Some("migrate")
    );
    assert_eq!(
        job.pointer("/spec/template/spec/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        c.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );
    let deployment = load("deployment.yaml");
    assert_eq!(
        str_at(c, "/image"),
        str_at(&deployment, "/spec/template/spec/containers/0/image"),
        "the job migrates for the version that is deployed"
    );
    let k = load("kustomization.yaml");
    let resources: Vec<&str> = k
        .pointer("/resources")
        .and_then(Value::as_array)
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for file in resources {
        assert!(deploy_dir().join(file).exists(), "{file}");
    }
}

/// Every setting in the ConfigMap and Secret is one the binary reads, with a
/// value it accepts: `vieagent config show` loads them.
#[tokio::test]
async fn the_manifest_settings_are_accepted_by_the_binary() {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (file, field) in [
        ("configmap.yaml", "/data"),
        ("secret.example.yaml", "/stringData"),
    ] {
        for (k, v) in load(file)
            .pointer(field)
            .and_then(Value::as_object)
            .expect("data")
        {
            env.insert(k.clone(), v.as_str().expect("string value").to_string());
        }
    }
    // A real key in place of the placeholder.
    env.insert(
        "VIEAGENT_MASTER_KEY".into(),
        secrecy::ExposeSecret::expose_secret(
            &vieagent::vault::MasterKey::generate()
                .expect("key")
                .to_base64(),
        )
        .to_string(),
    );
    let dir = tempfile::tempdir().expect("dir");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run_cli_with(&["config", "show"], dir.path(), &pairs, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("listen = \"0.0.0.0:8080\""), "{shown}");
    assert!(shown.contains("shutdown_grace = \"30s\""), "{shown}");
    assert!(shown.contains("vieagent.example.com"), "{shown}");
    assert!(
        !shown.contains("REPLACE_ME_long_random_token"),
        "secrets stay redacted"
    );
}

#[test]
fn the_dockerfile_builds_a_non_root_image_with_a_healthcheck() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let file = std::fs::read_to_string(path).expect("Dockerfile");
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: build, then runtime");
    assert!(
        froms[1].contains("distroless") && froms[1].contains("nonroot"),
        "{}",
        froms[1]
    );
    assert!(
        lines.contains(&"USER 65532:65532"),
        "the distroless nonroot user, numerically"
    );
    assert!(lines.contains(&"EXPOSE 8080"));
    assert!(lines.iter().any(|l| l.starts_with("HEALTHCHECK ")));
    assert!(file.contains(r#"CMD ["/usr/local/bin/vieagent", "healthcheck"]"#));
    assert!(lines.contains(&r#"CMD ["serve"]"#));
    // Dependencies are built before the sources are copied (layer cache).
    let deps = file.find("RUN docker/build.sh deps").expect("deps step");
    let sources = file.find("COPY src src").expect("sources");
    assert!(deps < sources);
    for line in lines.iter().filter(|l| !l.starts_with('#')) {
        for secret in [
            "VIEAGENT_MASTER_KEY",
            "VIEAGENT_ADMIN_TOKEN",
            "VIEAGENT_DATABASE_URL",
        ] {
            assert!(
                !line.contains(secret),
                "no secret baked into the image: {line}"
            );
        }
    }
}
