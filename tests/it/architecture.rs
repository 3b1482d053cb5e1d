//! The module layers, enforced: every `crate::<module>` path in `src/`
//! (imports and inline paths, test modules included, comments not) must point
//! to a lower layer, or be one of the few sideways edges named below. A new
//! top-level module must be given a layer here. README "Layout" draws the
//! same map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. A module may use the modules of the layers below its own.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaf",
        &["config", "crypto", "scrub", "lifecycle", "notify"],
    ),
    (
        "infrastructure",
        &["store", "error", "vault", "engines", "limits", "telemetry"],
    ),
    (
        "domain",
        &[
            "accounts",
            "auth",
            "billing",
            "catalog",
            "agents",
            "manifests",
            "demo",
            "portal",
            "oidc",
            "marketplace",
            "toolbox",
        ],
    ),
    ("pipeline", &["calls"]),
    ("state", &["state"]),
    ("edge", &["http", "mcp", "chat", "admin", "metrics", "web"]),
    ("root", &["server", "cli"]),
];

/// The edges allowed inside a layer (`from` uses `to`); everything else
/// inside a layer is refused, so the edges stay few and acyclic.
const SIDEWAYS: &[(&str, &str)] = &[
    ("config", "crypto"),
    ("error", "store"),
    ("vault", "store"),
    ("vault", "error"),
    ("engines", "store"),
    ("engines", "vault"),
    ("agents", "catalog"),
    ("agents", "toolbox"),
    ("catalog", "billing"),
    ("manifests", "agents"),
    ("demo", "accounts"),
    ("auth", "accounts"),
    ("portal", "accounts"),
    ("oidc", "accounts"),
    ("marketplace", "billing"),
    ("marketplace", "accounts"),
    ("marketplace", "toolbox"),
    ("toolbox", "catalog"),
    ("toolbox", "billing"),
    ("admin", "http"),
    ("chat", "http"),
    ("mcp", "http"),
    // The MCP App is Easy Mode's form in the assistant: the same sentences.
    ("mcp", "web"),
    ("web", "http"),
    ("cli", "server"),
];

/// The crate root's re-exports, by the module they come from (`crate::Error`
/// is `error`'s).
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Result", "error"),
    ("Config", "config"),
    ("AppState", "state"),
    ("run", "server"),
    ("install_crypto_provider", "crypto"),
];

/// What the call pipeline must never name: it serves every transport and
/// depends on none of them.
const NOT_IN_CALLS: &[&str] = &[
    "AppState",
    "axum",
    "crate::state",
    "rmcp::transport",
    "http::",
];

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_sources(&src, &src, &mut files);
    assert!(files.len() > 50, "read {} files under src/", files.len());
    let problems = check(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself refuses what it should (an upward import, a sideways
/// one not listed, a module without a layer, the pipeline naming a
/// transport), so the test above cannot pass by reading nothing.
#[test]
fn the_layer_check_refuses_upward_and_unlisted_edges() {
    let files: BTreeMap<String, String> = [
        ("config.rs", "use crate::vault::MasterKey;"),
        (
            "store/mod.rs",
            "pub use crate::error::Error; // crate::server",
        ),
        ("calls/mod.rs", "fn f(s: &crate::state::AppState) {}"),
        (
            "vault/mod.rs",
            "use crate::{config::Config, store::{self, DynStore}};",
        ),
        ("shiny.rs", "use crate::store::Store;"),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_string(), text.to_string()))
    .collect();
    let problems = check(&files).join("\n");
    for expected in [
        "config.rs: config (leaf) uses vault (infrastructure)",
        "store/mod.rs: store uses error sideways",
        "calls/mod.rs: calls (pipeline) uses state (state)",
        "calls/mod.rs: the call pipeline names `AppState`",
        "shiny.rs: module shiny has no layer",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
    assert!(
        !problems.contains("server"),
        "comments are not code:\n{problems}"
    );
    assert!(
        !problems.contains("vault/mod.rs"),
        "grouped imports read:\n{problems}"
    );
}

fn read_sources(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            read_sources(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src");
            let text = std::fs::read_to_string(&path).expect("source text");
            files.insert(rel.to_string_lossy().replace('\\', "/"), text);
        }
    }
}

/// Every rule broken, one line each.
fn check(files: &BTreeMap<String, String>) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, modules))| modules.iter().map(move |m| (*m, i)))
        .collect();
    let mut problems = Vec::new();
    for (path, text) in files {
        let module = top_module(path);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&from) = layer_of.get(module) else {
            problems.push(format!(
                "{path}: module {module} has no layer (add it to LAYERS)"
            ));
            continue;
        };
        let code = without_comments(text);
        if module == "calls" {
            for name in NOT_IN_CALLS {
                if code.contains(name) {
                    problems.push(format!("{path}: the call pipeline names `{name}`"));
                }
            }
        }
        for used in crate_paths(&code) {
            let used = ROOT_ITEMS
                .iter()
                .find(|(item, _)| *item == used)
                .map_or(used.as_str(), |(_, module)| module);
            let Some(&to) = layer_of.get(used) else {
                problems.push(format!(
                    "{path}: crate::{used} is neither a module nor a known re-export"
                ));
                continue;
            };
            if used == module || to < from {
                continue;
            }
            if to == from {
                if !SIDEWAYS.contains(&(module, used)) {
                    problems.push(format!(
                        "{path}: {module} uses {used} sideways (same layer, not in SIDEWAYS)"
                    ));
                }
            } else {
                problems.push(format!(
                    "{path}: {module} ({}) uses {used} ({})",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
        }
    }
    problems
}

/// `store/postgres/journal.rs` → `store`; `config.rs` → `config`.
fn top_module(path: &str) -> &str {
    let first = path.split('/').next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The code without `//` comments (doc comments included).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // `//` inside a string ("http://…") is not a comment.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by `crate::…` paths, including each item of
/// a `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue; // `my_crate::…`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        used.insert(ident_at(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(ident_at(rest));
        }
    }
    used
}

fn ident_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}
