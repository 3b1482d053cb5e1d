//! The tool catalog: published agents held in memory with compiled argument
//! validators and ready-made MCP tool definitions. `tools/list` and
//! `get_tool` read a snapshot and never touch the database; the snapshot is
//! rebuilt when the agents table changes (this process, the CLI, another
//! replica), and subscribers hear about it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::store::{Agent, AgentFilter, AgentStatus, Store, StoreResult};

/// One callable tool.
pub struct CatalogEntry {
    pub agent: Agent,
    pub validator: Arc<jsonschema::Validator>,
    pub tool: Tool,
    /// `tool` as JSON, serialised once when the catalog changes (in the
    /// background, not per `tools/list`): a 10,000-tool list is ~3.6 MB.
    pub tool_json: Arc<str>,
}

/// An immutable view of the catalog.
#[derive(Default)]
pub struct Snapshot {
    /// Increases whenever the published set or any published agent changes.
    pub version: u64,
    entries: BTreeMap<String, Arc<CatalogEntry>>,
    /// The same entries by agent id.
    by_id: HashMap<Uuid, Arc<CatalogEntry>>,
    tools: Arc<Vec<Tool>>,
    /// Positions in `tools` of agents that need an entitlement.
    priced: Vec<usize>,
    fingerprint: u64,
    /// How `tools/list` pages this catalog's lists.
    shape: ListShape,
    /// The list every user sees when no tool is priced, in pages, built
    /// with the snapshot (before it is published).
    shared_pages: OnceLock<Arc<ToolPages>>,
    /// With priced tools: the pages of each visibility class (which priced
    /// tools are locked) asked for so far, at most [`MAX_PAGE_CLASSES`].
    class_pages: Mutex<HashMap<Vec<usize>, Arc<ToolPages>>>,
}

/// How `tools/list` shows the catalog: the configuration it depends on.
#[derive(Clone, Debug)]
pub struct ListShape {
    /// Tools per page; 0 for one page of all.
    pub page_size: usize,
    /// `catalog.show_unpurchased`.
    pub show_unpurchased: bool,
    /// `billing.currency`, for the purchase line of locked tools.
    pub currency: String,
    /// Where locked tools are bought (`marketplace.agent_url`).
    pub market: crate::config::MarketplaceConfig,
}

impl Default for ListShape {
    fn default() -> Self {
        Self {
            page_size: 0,
            show_unpurchased: true,
            currency: "USD".into(),
            market: Default::default(),
        }
    }
}

/// Visibility classes whose pages a snapshot keeps (users entitled to the
/// same priced tools share one).
const MAX_PAGE_CLASSES: usize = 64;

/// One visibility class's tool list: the definitions, and the same list as
/// JSON arrays, one per page, serialised once (a 1,000-tool page is
/// ~365 kB, so requests share these bytes instead of building them).
pub struct ToolPages {
    pub tools: Arc<Vec<Tool>>,
    /// Tools per page as built (with `page_size` 0 configured: all of them).
    page_size: usize,
    pages: Vec<Bytes>,
}

impl ToolPages {
    /// The page `tools[start..end]` as JSON, if it is one of this list's
    /// pages.
    pub fn page(&self, start: usize, end: usize) -> Option<Bytes> {
        let size = self.page_size;
        if !start.is_multiple_of(size) || end != (start + size).min(self.tools.len()) {
            return None;
        }
        self.pages.get(start / size).cloned()
    }
}

impl Snapshot {
    pub fn get(&self, tool_name: &str) -> Option<&Arc<CatalogEntry>> {
        self.entries.get(tool_name)
    }

    pub fn by_id(&self, agent_id: Uuid) -> Option<&Arc<CatalogEntry>> {
        self.by_id.get(&agent_id)
    }

    /// The tools of `agents` (a toolbox; those not published are left
    /// out), ordered by name. A priced one `entitled` has not bought is
    /// marked with its purchase line, whatever `show_unpurchased` says:
    /// the user chose it. `entitled` is `None` when nothing is priced.
    pub fn tools_of(&self, agents: &[Uuid], entitled: Option<&HashSet<Uuid>>) -> Vec<Tool> {
        let mut chosen: Vec<&Arc<CatalogEntry>> =
            agents.iter().filter_map(|id| self.by_id.get(id)).collect();
        chosen.sort_by(|a, b| a.agent.tool_name.cmp(&b.agent.tool_name));
        chosen.dedup_by(|a, b| a.agent.id == b.agent.id);
        chosen
            .into_iter()
            .map(|entry| {
                let locked = crate::billing::is_priced(&entry.agent)
                    && !entitled.is_some_and(|e| e.contains(&entry.agent.id));
                if locked {
                    self.marked(entry)
                } else {
                    entry.tool.clone()
                }
            })
            .collect()
    }

    /// An entry's tool with the line saying it needs a purchase.
    fn marked(&self, entry: &CatalogEntry) -> Tool {
        let mut marked = entry.tool.clone();
        let agent = &entry.agent;
        let buy = self
            .shape
            .market
            .agent_page(&agent.id.to_string(), &agent.tool_name, None);
        let line = crate::billing::purchase_line(agent, &self.shape.currency, buy.as_ref());
        marked.description = Some(
            match marked.description.as_deref() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
                _ => line,
            }
            .into(),
        );
        marked
    }

    /// Tool definitions ordered by name.
    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.tools.clone()
    }

    /// Whether any tool needs a purchase (if not, every user sees the same list).
    pub fn has_priced(&self) -> bool {
        !self.priced.is_empty()
    }

    /// The tool list as one user sees it: a priced tool the user has no
    /// active entitlement for gets a description line saying it needs a
    /// purchase (so an assistant can tell the user), or is left out when
    /// `show_unpurchased` is off (both as the catalog's [`ListShape`] says).
    /// `entitled` holds the agents the user has bought. Without priced
    /// tools this is the shared list, no copy.
    pub fn tools_for(&self, entitled: &HashSet<Uuid>) -> Arc<Vec<Tool>> {
        let locked = self.locked(entitled);
        if locked.is_empty() {
            return self.tools.clone();
        }
        let mut tools: Vec<Tool> = Vec::with_capacity(self.tools.len());
        let mut next_locked = locked.iter().peekable();
        for (i, tool) in self.tools.iter().enumerate() {
            if next_locked.peek() != Some(&&i) {
                tools.push(tool.clone());
                continue;
            }
            next_locked.next();
            if !self.shape.show_unpurchased {
                continue;
            }
            let Some(entry) = self.entries.get(tool.name.as_ref()) else {
                continue;
            };
            tools.push(self.marked(entry));
        }
        Arc::new(tools)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<CatalogEntry>> {
        self.entries.values()
    }

    /// `tools` (this snapshot's, as [`Self::tools_for`] gave them) as a
    /// JSON array, from the definitions serialised when the catalog
    /// changed; only a tool whose description was marked for this user is
    /// serialised now. `None` if one cannot be serialised.
    pub fn tools_json(&self, tools: &[Tool]) -> Option<String> {
        self.tools_json_of(tools).map(|pieces| join_json(&pieces))
    }

    fn tools_json_of<'a>(&'a self, tools: &'a [Tool]) -> Option<Vec<std::borrow::Cow<'a, str>>> {
        tools
            .iter()
            .map(|tool| match self.get(&tool.name) {
                Some(entry) if entry.tool.description == tool.description => {
                    Some(std::borrow::Cow::Borrowed(&*entry.tool_json))
                }
                _ => serde_json::to_string(tool)
                    .ok()
                    .map(std::borrow::Cow::Owned),
            })
            .collect()
    }

    /// The tool list as `entitled` (the agents a user bought; `None` when
    /// no tool is priced) sees it, in `tools/list` pages: built once per
    /// snapshot and visibility class, then shared. `None` if a definition
    /// cannot be serialised.
    pub fn pages_for(&self, entitled: Option<&HashSet<Uuid>>) -> Option<Arc<ToolPages>> {
        let Some(entitled) = entitled.filter(|_| self.has_priced()) else {
            if let Some(pages) = self.shared_pages.get() {
                return Some(pages.clone());
            }
            let pages = Arc::new(self.build_pages(self.tools.clone())?);
            return Some(self.shared_pages.get_or_init(|| pages).clone());
        };
        let class = self.locked(entitled);
        if let Some(pages) = self.class_pages.lock().ok()?.get(&class) {
            return Some(pages.clone());
        }
        let tools = self.tools_for(entitled);
        let pages = Arc::new(self.build_pages(tools)?);
        let mut classes = self.class_pages.lock().ok()?;
        if classes.len() < MAX_PAGE_CLASSES {
            classes.entry(class).or_insert_with(|| pages.clone());
        }
        Some(pages)
    }

    fn build_pages(&self, tools: Arc<Vec<Tool>>) -> Option<ToolPages> {
        let page_size = match self.shape.page_size {
            0 => tools.len().max(1),
            n => n,
        };
        let mut pages = Vec::with_capacity(tools.len().div_ceil(page_size));
        for chunk in tools.chunks(page_size) {
            pages.push(Bytes::from(join_json(&self.tools_json_of(chunk)?)));
        }
        if pages.is_empty() {
            pages.push(Bytes::from_static(b"[]"));
        }
        Some(ToolPages {
            tools,
            page_size,
            pages,
        })
    }

    /// Positions of the priced tools `entitled` has not bought.
    fn locked(&self, entitled: &HashSet<Uuid>) -> Vec<usize> {
        self.priced
            .iter()
            .copied()
            .filter(|&i| {
                self.tools
                    .get(i)
                    .and_then(|t| self.entries.get(t.name.as_ref()))
                    .is_some_and(|e| !entitled.contains(&e.agent.id))
            })
            .collect()
    }
}

/// JSON values as one JSON array.
fn join_json(pieces: &[std::borrow::Cow<'_, str>]) -> String {
    let size: usize = pieces.iter().map(|p| p.len() + 1).sum();
    let mut out = String::with_capacity(size + 2);
    out.push('[');
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(piece);
    }
    out.push(']');
    out
}

pub struct Catalog {
    shape: ListShape,
    current: RwLock<Arc<Snapshot>>,
    changed: watch::Sender<u64>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    pub fn new() -> Self {
        Self::with_shape(ListShape::default())
    }

    /// A catalog whose `tools/list` pages follow `shape`.
    pub fn with_shape(shape: ListShape) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            shape,
            current: RwLock::new(Arc::new(Snapshot::default())),
            changed,
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An agent's tool name: from the published catalog, else from the
    /// store (drafts, archived agents); `None` if the agent is gone.
    pub async fn tool_name(
        &self,
        store: &dyn Store,
        agent_id: Uuid,
    ) -> StoreResult<Option<String>> {
        if let Some(entry) = self.snapshot().by_id(agent_id) {
            return Ok(Some(entry.agent.tool_name.clone()));
        }
        Ok(store.get_agent(agent_id).await?.map(|a| a.tool_name))
    }

    /// Notified with the new version whenever the catalog changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reload published agents from the store; returns whether anything changed.
    pub async fn refresh(&self, store: &dyn Store) -> StoreResult<bool> {
        let _guard = self.refresh_lock.lock().await;
        let agents = load_published(store).await?;
        let fingerprint = fingerprint(&agents);
        let old = self.snapshot();
        if fingerprint == old.fingerprint && old.version > 0 {
            return Ok(false);
        }
        // Reuse what was built for agents that did not change: compiled
        // validators and serialised definitions.
        let reusable: HashMap<(Uuid, i64), &Arc<CatalogEntry>> = old
            .entries
            .values()
            .map(|e| ((e.agent.id, e.agent.updated_at.timestamp_micros()), e))
            .collect();
        let mut entries = BTreeMap::new();
        for agent in agents {
            let key = (agent.id, agent.updated_at.timestamp_micros());
            let previous = reusable.get(&key);
            let validator = match previous {
                Some(e) => e.validator.clone(),
                None => match compile(&agent.input_schema) {
                    Ok(v) => Arc::new(v),
                    Err(e) => {
                        tracing::error!(tool = %agent.tool_name, error = %e, "agent input_schema does not compile; tool not published");
                        continue;
                    }
                },
            };
            let tool = tool_for(&agent);
            let tool_json = match previous {
                Some(e) => e.tool_json.clone(),
                None => match serde_json::to_string(&tool) {
                    Ok(json) => Arc::from(json),
                    Err(e) => {
                        tracing::error!(tool = %agent.tool_name, error = %e, "tool definition does not serialise; tool not published");
                        continue;
                    }
                },
            };
            entries.insert(
                agent.tool_name.clone(),
                Arc::new(CatalogEntry {
                    agent,
                    validator,
                    tool,
                    tool_json,
                }),
            );
        }
        let tools = Arc::new(entries.values().map(|e| e.tool.clone()).collect());
        let by_id = entries.values().map(|e| (e.agent.id, e.clone())).collect();
        let priced = entries
            .values()
            .enumerate()
            .filter(|(_, e)| crate::billing::is_priced(&e.agent))
            .map(|(i, _)| i)
            .collect();
        let version = old.version + 1;
        let snapshot = Arc::new(Snapshot {
            version,
            entries,
            by_id,
            tools,
            priced,
            fingerprint,
            shape: self.shape.clone(),
            shared_pages: OnceLock::new(),
            class_pages: Mutex::default(),
        });
        // The list most requests will ask for, ready before anyone asks:
        // the shared one, or with priced tools the one of a user who has
        // bought none.
        let _ = snapshot.pages_for(snapshot.has_priced().then(HashSet::new).as_ref());
        tracing::info!(version, tools = snapshot.len(), "tool catalog refreshed");
        match self.current.write() {
            Ok(mut s) => *s = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        self.changed.send_replace(version);
        Ok(true)
    }
}

async fn load_published(store: &dyn Store) -> StoreResult<Vec<Agent>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_agents(&AgentFilter {
                status: Some(AgentStatus::Published),
                after_tool_name: after.clone(),
                limit: Some(1000),
                ..AgentFilter::default()
            })
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(|a| a.tool_name.clone());
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

fn fingerprint(agents: &[Agent]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    agents.len().hash(&mut h);
    for a in agents {
        a.id.hash(&mut h);
        a.tool_name.hash(&mut h);
        a.updated_at.timestamp_micros().hash(&mut h);
    }
    h.finish()
}

/// Compile an input schema for argument validation.
///
/// * `format`s (`email`, `date`, `date-time`, `time`, `uri`, `uuid`, …) are
///   checked, not only annotations; unknown formats are ignored.
/// * Remote and file `$ref`s are never fetched: the validator is built
///   without the `resolve-http`/`resolve-file` resolvers, so such a schema
///   does not compile (and says which resource it could not resolve).
/// * `pattern`s run on the `regex` crate's engine, which guarantees linear
///   time (no backtracking), with its compiled size bounded: a catastrophic
///   pattern cannot stall a call, and one that needs backtracking
///   (backreferences, lookaround) is refused when the agent is saved.
/// * Recursive `$ref`s are fine: validation follows the instance, which the
///   JSON parser already bounds in depth.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        // `format` is an assertion here: an email must be an email.
        .should_validate_formats(true)
        .with_pattern_options(
            jsonschema::PatternOptions::regex()
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT),
        )
        .build(schema)
        .map_err(|e| explain_compile_error(&e.to_string()))
}

/// The validator's message, with what an admin can do about it.
fn explain_compile_error(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("Resource '")
        && let Some((resource, _)) = rest.split_once('\'')
        && message.contains("retrieving it failed")
    {
        return format!(
            "$ref '{resource}' points outside this schema; remote and file schemas are never \
             fetched: copy it under \"$defs\" and refer to it as \"#/$defs/…\""
        );
    }
    if message.ends_with("is not a \"regex\"") {
        return format!(
            "{message}: patterns run on a linear-time regex engine (no backreferences or \
             lookaround) and must compile to at most {} KiB",
            REGEX_SIZE_LIMIT / 1024
        );
    }
    message.to_string()
}

/// Upper bound on one compiled `pattern` (and its lazy DFA cache), in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The MCP tool for an agent: its input schema as parameters, the agent's
/// name as title, open-world (it calls an external engine).
pub fn tool_for(agent: &Agent) -> Tool {
    let schema: JsonObject = agent.input_schema.as_object().cloned().unwrap_or_default();
    let description = if agent.description.trim().is_empty() {
        agent.name.clone()
    } else {
        agent.description.clone()
    };
    Tool::new(agent.tool_name.clone(), description, Arc::new(schema))
        .with_title(agent.name.clone())
        .with_annotations(ToolAnnotations::with_title(agent.name.clone()).open_world(true))
}

#[cfg(test)]
mod hostile_schemas {
    use serde_json::json;

    fn object(property: serde_json::Value) -> serde_json::Value {
        json!({"type": "object", "properties": {"a": property}})
    }

    #[test]
    fn remote_and_file_refs_are_refused_without_fetching() {
        for target in [
            "https://127.0.0.1:9/schema.json",
            "http://169.254.169.254/latest",
            "file:///etc/passwd",
        ] {
            let e = super::compile(&object(json!({"$ref": target}))).expect_err(target);
            assert!(e.contains(target) && e.contains("never"), "{e}");
            assert!(e.contains("$defs"), "{e}");
        }
    }

    #[test]
    fn backtracking_patterns_are_refused_and_others_run_in_linear_time() {
        for pattern in ["^(a|aa)+\\1$", "^(?=(a+)+b)", "^(\\w{1,100}){1,100}$"] {
            let e = super::compile(&object(json!({"type": "string", "pattern": pattern})))
                .expect_err(pattern);
            assert!(e.contains("linear-time"), "{e}");
        }
        // The classic catastrophic pattern compiles to a linear-time
        // automaton: 100,000 characters of near-match are answered at once.
        let v = super::compile(&object(json!({"type": "string", "pattern": "^(a+)+$"})))
            .expect("compiles");
        let hostile = json!({"a": format!("{}!", "a".repeat(100_000))});
        assert!(!v.is_valid(&hostile));
        assert!(v.is_valid(&json!({"a": "aaaa"})));
    }

    #[test]
    fn recursive_refs_compile_and_validate() {
        let schema = json!({
            "type": "object",
            "$defs": {
                "loop": {"$ref": "#/$defs/loop"},
                "x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"},
                "tree": {"type": "object", "properties": {"child": {"$ref": "#/$defs/tree"}}}
            },
            "properties": {"a": {"$ref": "#/$defs/loop"}, "b": {"$ref": "#/$defs/x"}, "t": {"$ref": "#/$defs/tree"}}
        });
        let v = super::compile(&schema).expect("compiles");
        let mut deep = json!({});
        for _ in 0..100 {
            deep = json!({"child": deep});
        }
        assert!(v.is_valid(&json!({"a": 1, "b": "x", "t": deep})));
        assert!(!v.is_valid(&json!({"t": {"child": 5}})));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(page_size: usize, names: &[&str]) -> ToolPages {
        let snapshot = Snapshot {
            shape: ListShape {
                page_size,
                ..ListShape::default()
            },
            ..Snapshot::default()
        };
        let tools = names
            .iter()
            .map(|n| Tool::new(n.to_string(), "d", Arc::new(JsonObject::new())))
            .collect();
        snapshot.build_pages(Arc::new(tools)).expect("serialisable")
    }

    fn names(page: Option<Bytes>) -> Vec<String> {
        let page: Vec<Value> = serde_json::from_slice(&page.expect("a page")).expect("json");
        page.iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn pages_are_the_lists_pages_and_only_those() {
        let paged = pages(2, &["a", "b", "c"]);
        assert_eq!(names(paged.page(0, 2)), ["a", "b"]);
        assert_eq!(names(paged.page(2, 3)), ["c"]);
        assert!(paged.page(1, 3).is_none(), "not a page boundary");
        assert!(paged.page(0, 3).is_none(), "not one page");
        // Page size 0 is one page of all: the handler asks for 0..len.
        let whole = pages(0, &["a", "b", "c"]);
        assert_eq!(names(whole.page(0, 3)), ["a", "b", "c"]);
        assert_eq!(names(pages(0, &[]).page(0, 0)), Vec::<String>::new());
    }
}
