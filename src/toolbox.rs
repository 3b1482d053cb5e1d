//! Each buyer's own toolbox, and search across the marketplace.
//!
//! With `catalog.toolbox = "chosen"` a user's assistant is shown the agents
//! they chose (their toolbox) instead of the whole catalog, plus discovery
//! tools that search the marketplace and change the choice; a named toolset
//! (a subset, served at `/mcp/t/{toolset}`) narrows one assistant further.
//! Which view a request has is its [`Scope`]. The toolbox is a view, not a
//! permission: entitlements, credits and the Vault still decide every call,
//! but a scoped request calls only what its scope shows (an assistant adds
//! an agent first, and the user sees that it did).
//!
//! Toolboxes are read through [`Toolboxes`], a per-user cache forgotten
//! whenever the toolbox changes: here, on another replica (PostgreSQL
//! NOTIFY `vieagent_toolboxes`), or through a purchase.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::catalog::{CatalogEntry, Snapshot};
use crate::config::{Config, ToolboxMode};
use crate::error::{Error, FieldError, Result};
use crate::notify::SessionRegistry;
use crate::store::toolbox::{AgentSearch, TOOLBOX, TOOLSET_RULE, search_words, valid_toolset};
use crate::store::{Store, StoreResult};

/// The discovery tools' names: `search_agents` finds agents in the
/// marketplace, `add_agent` and `remove_agent` change the toolbox. No agent
/// may take one of these names.
pub const SEARCH_TOOL: &str = "search_agents";
pub const ADD_TOOL: &str = "add_agent";
pub const REMOVE_TOOL: &str = "remove_agent";

pub fn is_discovery_tool(name: &str) -> bool {
    matches!(name, SEARCH_TOOL | ADD_TOOL | REMOVE_TOOL)
}

/// A tool name no agent may take: a discovery tool's, also as chat
/// vendors spell it (`add.agent` is `add_agent` to OpenAI and Anthropic).
pub fn is_reserved_tool_name(name: &str) -> bool {
    is_discovery_tool(&name.replace('.', "_"))
}

/// Which agents a request may see and call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every published agent (`catalog.toolbox = "all"` at `/mcp`).
    #[default]
    Catalog,
    /// The user's toolbox (`catalog.toolbox = "chosen"` at `/mcp`).
    Toolbox,
    /// One of the user's named toolsets (`/mcp/t/{toolset}`).
    Toolset(String),
}

impl Scope {
    /// The scope of a request to the main endpoints (`/mcp`, `/sse`,
    /// stdio, `GET /v1/tools`) or, with `toolset`, to a toolset's.
    pub fn of(config: &Config, toolset: Option<&str>) -> Scope {
        match toolset {
            Some(name) => Scope::Toolset(name.to_string()),
            None if config.catalog.toolbox == ToolboxMode::Chosen => Scope::Toolbox,
            None => Scope::Catalog,
        }
    }

    /// The set the scope shows (`""` for the toolbox); `None`: the catalog.
    pub fn set(&self) -> Option<&str> {
        match self {
            Scope::Catalog => None,
            Scope::Toolbox => Some(TOOLBOX),
            Scope::Toolset(name) => Some(name),
        }
    }

    /// The scope's name for people and assistants.
    pub fn describe(&self) -> String {
        match self {
            Scope::Catalog => "the catalog".into(),
            Scope::Toolbox => "your toolbox".into(),
            Scope::Toolset(name) => format!("your toolset '{name}'"),
        }
    }
}

/// Users' toolboxes and toolsets, cached for `ttl` and forgotten on every
/// change. A read that raced a change is not kept: every change bumps a
/// generation, and what was read before the bump is answered but never
/// cached (else a set read just before an `add_agent` commits could hide
/// the new agent until `ttl`).
pub struct Toolboxes {
    ttl: Duration,
    generation: AtomicU64,
    users: Mutex<HashMap<Uuid, HashMap<String, Cached>>>,
}

/// A set's agents, and when they were read.
type Cached = (Arc<Vec<Uuid>>, Instant);

/// Users whose sets are kept at most; past it the expired go, then all.
const MAX_CACHED_USERS: usize = 100_000;

impl Toolboxes {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The agents in one of `user_id`'s sets, in the order they were added.
    pub async fn agents(
        &self,
        store: &dyn Store,
        user_id: Uuid,
        set: &str,
    ) -> StoreResult<Arc<Vec<Uuid>>> {
        if let Ok(users) = self.users.lock()
            && let Some((found, at)) = users.get(&user_id).and_then(|sets| sets.get(set))
            && at.elapsed() < self.ttl
        {
            return Ok(found.clone());
        }
        let before = self.generation.load(Ordering::SeqCst);
        let found = Arc::new(store.toolbox(user_id, set).await?);
        // A toolset that does not exist is not kept: any name can be asked
        // for (it is in a URL), and only real sets may take memory.
        let keep = self.generation.load(Ordering::SeqCst) == before
            && (set == TOOLBOX || !found.is_empty());
        if keep && let Ok(mut users) = self.users.lock() {
            if users.len() >= MAX_CACHED_USERS {
                let ttl = self.ttl;
                users.retain(|_, sets| sets.values().any(|(_, at)| at.elapsed() < ttl));
                if users.len() >= MAX_CACHED_USERS {
                    users.clear();
                }
            }
            users
                .entry(user_id)
                .or_default()
                .insert(set.to_string(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Forget one user's sets.
    pub fn invalidate(&self, user_id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut users) = self.users.lock() {
            users.remove(&user_id);
        }
    }

    /// Forget everyone's (changes may have been missed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut users) = self.users.lock() {
            users.clear();
        }
    }
}

/// A user's toolbox changed (here, or on another replica): forget the
/// cached sets and tell the user's sessions `tools/list_changed`.
pub async fn changed(toolboxes: &Toolboxes, sessions: &SessionRegistry, user_id: Uuid) {
    toolboxes.invalidate(user_id);
    sessions.notify_user_tool_list_changed(user_id).await;
}

/// What an add or remove did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    AlreadyThere,
    Removed,
    NotThere,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::AlreadyThere => "already_there",
            Change::Removed => "removed",
            Change::NotThere => "not_there",
        }
    }

    /// Whether the set is different now.
    pub fn changed(self) -> bool {
        matches!(self, Change::Added | Change::Removed)
    }
}

/// Most agents in one toolbox.
pub const MAX_TOOLBOX_AGENTS: usize = 200;
/// Most named toolsets of one user.
pub const MAX_TOOLSETS: usize = 50;

/// Who changes a toolbox, and what is told when they do.
pub struct Editor<'a> {
    pub store: &'a dyn Store,
    pub toolboxes: &'a Toolboxes,
    pub sessions: &'a SessionRegistry,
}

impl Editor<'_> {
    /// Add a published agent (by tool name) to one of `user_id`'s sets.
    /// A priced agent may be added before it is bought: calling it still
    /// needs the purchase.
    pub async fn add(
        &self,
        snapshot: &Snapshot,
        user_id: Uuid,
        set: &str,
        tool: &str,
    ) -> Result<(Change, Arc<CatalogEntry>)> {
        check_set(set)?;
        let entry = published(snapshot, tool)?;
        self.within_limits(user_id, set, entry.agent.id).await?;
        let added = self
            .store
            .add_to_toolbox(user_id, set, entry.agent.id)
            .await?;
        let change = if added {
            Change::Added
        } else {
            Change::AlreadyThere
        };
        if change.changed() {
            changed(self.toolboxes, self.sessions, user_id).await;
        }
        Ok((change, entry))
    }

    /// A toolbox holds at most [`MAX_TOOLBOX_AGENTS`] agents and a user at
    /// most [`MAX_TOOLSETS`] toolsets: an assistant past a few dozen tools
    /// chooses badly, and every set is kept in memory.
    async fn within_limits(&self, user_id: Uuid, set: &str, agent_id: Uuid) -> Result<()> {
        let toolbox = self.store.toolbox(user_id, TOOLBOX).await?;
        if toolbox.len() >= MAX_TOOLBOX_AGENTS && !toolbox.contains(&agent_id) {
            return Err(Error::Validation(vec![FieldError::new(
                "tool",
                "limit",
                format!(
                    "a toolbox holds at most {MAX_TOOLBOX_AGENTS} agents: remove one before adding another"
                ),
            )]));
        }
        if set != TOOLBOX {
            let toolsets = self.store.toolsets(user_id).await?;
            if toolsets.len() >= MAX_TOOLSETS && !toolsets.iter().any(|(name, _)| name == set) {
                return Err(Error::Validation(vec![FieldError::new(
                    "toolset",
                    "limit",
                    format!(
                        "a user keeps at most {MAX_TOOLSETS} toolsets: add to one of them, or empty one first"
                    ),
                )]));
            }
        }
        Ok(())
    }

    /// Remove an agent (by tool name) from one of `user_id`'s sets; from
    /// the toolbox it leaves every toolset too. Its calls' history stays.
    pub async fn remove(
        &self,
        snapshot: &Snapshot,
        user_id: Uuid,
        set: &str,
        tool: &str,
    ) -> Result<Change> {
        check_set(set)?;
        // An agent no longer published may still be in a toolbox: find it
        // in the store by its tool name.
        let agent_id = match snapshot.get(tool) {
            Some(entry) => entry.agent.id,
            None => match self.store.get_agent_by_tool_name(tool).await? {
                Some(agent) => agent.id,
                None => return Ok(Change::NotThere),
            },
        };
        let removed = self
            .store
            .remove_from_toolbox(user_id, set, agent_id)
            .await?;
        if removed {
            changed(self.toolboxes, self.sessions, user_id).await;
            Ok(Change::Removed)
        } else {
            Ok(Change::NotThere)
        }
    }
}

fn check_set(set: &str) -> Result<()> {
    if set == TOOLBOX || valid_toolset(set) {
        return Ok(());
    }
    Err(Error::Validation(vec![FieldError::new(
        "toolset",
        "pattern",
        format!("'{set}' is not a toolset name: use {TOOLSET_RULE}"),
    )]))
}

fn published(snapshot: &Snapshot, tool: &str) -> Result<Arc<CatalogEntry>> {
    snapshot.get(tool).cloned().ok_or_else(|| {
        Error::NotFound(format!(
            "no published agent named '{tool}'; search the marketplace for its tool name"
        ))
    })
}

/// A marketplace search, as assistants and people ask it.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: String,
    /// Only agents with no price.
    pub free: bool,
    /// Only agents the user bought.
    pub bought: bool,
    /// Only agents that need a key of this type (e.g. `openai`).
    pub needs_key: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Results per page (1–50; default 10).
    pub limit: Option<u32>,
}

pub const DEFAULT_PAGE: u32 = 10;
pub const MAX_PAGE: u32 = 50;
/// Longest query text taken.
pub const MAX_QUERY_CHARS: usize = 200;

/// One agent found.
#[derive(Clone)]
pub struct Hit {
    pub entry: Arc<CatalogEntry>,
    /// Needs a purchase (`price_one_time` or `price_monthly`).
    pub priced: bool,
    /// Has an active entitlement.
    pub bought: bool,
    /// In the user's toolbox.
    pub in_toolbox: bool,
}

/// One page of results, best first.
#[derive(Clone)]
pub struct Page {
    pub hits: Vec<Hit>,
    pub next_cursor: Option<String>,
}

/// Search the published catalog for `user_id`: ranked by the database's
/// full-text search, paged by an opaque cursor.
pub async fn search(
    store: &dyn Store,
    snapshot: &Snapshot,
    entitled: &HashSet<Uuid>,
    toolbox: &[Uuid],
    query: &Query,
) -> Result<Page> {
    let mut problems = Vec::new();
    if query.text.chars().count() > MAX_QUERY_CHARS {
        problems.push(FieldError::new(
            "q",
            "maxLength",
            format!("a search is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        problems.push(FieldError::new(
            "limit",
            "range",
            format!("limit is from 1 to {MAX_PAGE}"),
        ));
    }
    let offset = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                problems.push(FieldError::new(
                    "cursor",
                    "format",
                    "invalid cursor: pass the next_cursor of the previous page, or none for the first",
                ));
                0
            }
        },
    };
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    let search = AgentSearch {
        words: search_words(&query.text),
        free: query.free,
        among: query.bought.then(|| entitled.iter().copied().collect()),
        needs_key: query
            .needs_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        offset,
        limit: limit + 1,
    };
    let mut ids = store.search_agents(&search).await?;
    let more = ids.len() > limit as usize;
    ids.truncate(limit as usize);
    let toolbox: HashSet<&Uuid> = toolbox.iter().collect();
    let hits = ids
        .iter()
        // Published a moment ago and not in this snapshot yet: left out.
        .filter_map(|id| snapshot.by_id(*id))
        .map(|entry| Hit {
            priced: crate::billing::is_priced(&entry.agent),
            bought: entitled.contains(&entry.agent.id),
            in_toolbox: toolbox.contains(&entry.agent.id),
            entry: entry.clone(),
        })
        .collect();
    Ok(Page {
        hits,
        next_cursor: more.then(|| (offset + limit).to_string()),
    })
}

/// An agent as search results and toolboxes show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Card {
    /// The tool name: what `add_agent`, `PUT /v1/me/toolbox/{tool}` and
    /// calls take.
    #[schema(example = "tom_tat_van_ban")]
    pub tool: String,
    #[schema(example = "Tóm tắt văn bản")]
    pub name: String,
    pub description: String,
    /// What it costs (`null`: free), e.g. "9.99 USD one-time".
    pub price: Option<String>,
    /// The user has an active purchase of it.
    pub bought: bool,
    /// It is priced and not bought: a call needs the purchase first.
    pub needs_purchase: bool,
    /// In the user's toolbox.
    pub in_toolbox: bool,
    /// In the toolset asked about (`search_agents` at a toolset's address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_toolset: Option<bool>,
    /// The key types it uses (the user's own keys, from the Vault).
    pub needs_keys: Vec<String>,
    /// Where to buy it, when it needs a purchase and the marketplace says.
    pub buy_url: Option<String>,
}

impl Hit {
    pub fn card(&self, config: &Config) -> Card {
        let agent = &self.entry.agent;
        let needs_purchase = self.priced && !self.bought;
        Card {
            tool: agent.tool_name.clone(),
            name: agent.name.clone(),
            description: agent.description.clone(),
            price: self
                .priced
                .then(|| crate::billing::price_text(agent, &config.billing.currency)),
            bought: self.bought,
            needs_purchase,
            in_toolbox: self.in_toolbox,
            in_toolset: None,
            needs_keys: agent.required_credential_types.clone(),
            buy_url: needs_purchase
                .then(|| {
                    config
                        .marketplace
                        .agent_page(&agent.id.to_string(), &agent.tool_name, None)
                })
                .flatten()
                .map(|u| u.to_string()),
        }
    }
}

/// The cards of a user's set (toolbox or toolset), by tool name; agents no
/// longer published are left out.
pub fn cards(
    snapshot: &Snapshot,
    config: &Config,
    agents: &[Uuid],
    entitled: &HashSet<Uuid>,
) -> Vec<Card> {
    let mut cards: Vec<Card> = agents
        .iter()
        .filter_map(|id| snapshot.by_id(*id))
        .map(|entry| {
            Hit {
                priced: crate::billing::is_priced(&entry.agent),
                bought: entitled.contains(&entry.agent.id),
                in_toolbox: true,
                entry: entry.clone(),
            }
            .card(config)
        })
        .collect();
    cards.sort_by(|a, b| a.tool.cmp(&b.tool));
    cards
}
