//! Each user's toolbox (the agents their assistant sees when
//! `catalog.toolbox = "chosen"`), their named toolsets (subsets of it, each
//! served at its own MCP URL), and full-text search over the published
//! catalog: SQLite FTS5, PostgreSQL `tsvector`, both accent-insensitive
//! ([`fold`]: "tom tat" finds "tóm tắt", "da nang" finds "Đà Nẵng").

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::StoreResult;

/// The toolbox itself, as opposed to one of the named toolsets.
pub const TOOLBOX: &str = "";

/// Most words of a search query that count.
pub const MAX_SEARCH_WORDS: usize = 8;
/// Longest word of a search query that counts (longer ones are cut).
pub const MAX_WORD_CHARS: usize = 40;

/// One search of the published catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentSearch {
    /// Folded words ([`search_words`]); every one must match a word of the
    /// agent's tool name, name or description as a prefix. Empty: every
    /// published agent, ordered by tool name.
    pub words: Vec<String>,
    /// Only agents with no price (`price_one_time` and `price_monthly`
    /// NULL or 0).
    pub free: bool,
    /// Only these agents (e.g. those the user bought).
    pub among: Option<Vec<Uuid>>,
    /// Only agents whose `required_credential_types` holds this type.
    pub needs_key: Option<String>,
    pub offset: u32,
    pub limit: u32,
}

#[async_trait]
pub trait ToolboxStore: Send + Sync {
    /// Published agents matching `search`, best first (tool name, then
    /// name, weigh more than the description; ties by tool name), paged
    /// by `offset`/`limit`.
    async fn search_agents(&self, search: &AgentSearch) -> StoreResult<Vec<Uuid>>;
    /// The agents in a user's toolbox ([`TOOLBOX`]) or one of their named
    /// toolsets, in the order they were added.
    async fn toolbox(&self, user_id: Uuid, toolset: &str) -> StoreResult<Vec<Uuid>>;
    /// Add an agent; to a named toolset also adds it to the toolbox (in one
    /// transaction). `false`: it was there already.
    async fn add_to_toolbox(
        &self,
        user_id: Uuid,
        toolset: &str,
        agent_id: Uuid,
    ) -> StoreResult<bool>;
    /// Remove an agent; from the toolbox also removes it from every named
    /// toolset. `false`: it was not there.
    async fn remove_from_toolbox(
        &self,
        user_id: Uuid,
        toolset: &str,
        agent_id: Uuid,
    ) -> StoreResult<bool>;
    /// A user's named toolsets and how many agents each holds, by name.
    async fn toolsets(&self, user_id: Uuid) -> StoreResult<Vec<(String, u32)>>;
    /// Send a user's id on `changed` whenever any process changes that
    /// user's toolbox or toolsets (also when a purchase adds to it), until
    /// `stop`; `None` after (re)connecting. PostgreSQL: LISTEN/NOTIFY
    /// `vieagent_toolboxes` (a trigger on `toolbox_agents`); SQLite serves
    /// one process, which tells itself: nothing to watch.
    async fn watch_toolboxes(&self, changed: mpsc::Sender<Option<Uuid>>, stop: CancellationToken);
}

/// `text` without accents, lower-case: what both databases index and what
/// a query is matched as. Latin letters lose their marks (decomposed, the
/// marks dropped: "Tóm tắt" is "tom tat"); `đ`/`Đ` (a letter of its own,
/// not a mark) become `d`, as do the other letters with a stroke. Other
/// scripts keep their letters whole, as the databases store them (Cyrillic
/// "й", Japanese "が", Hangul syllables): only stray combining accents
/// (U+0300–U+036F) are dropped there.
pub fn fold(text: &str) -> String {
    let stroke = |c: char| match c {
        'đ' | 'Đ' | 'ð' | 'Ð' => 'd',
        'ø' | 'Ø' => 'o',
        'ł' | 'Ł' => 'l',
        c => c,
    };
    let mut out = String::with_capacity(text.len());
    for c in text.nfc() {
        if ('\u{0300}'..='\u{036f}').contains(&c) {
            continue;
        }
        if is_latin(c) {
            for base in std::iter::once(c)
                .nfd()
                .filter(|m| !unicode_normalization::char::is_combining_mark(*m))
            {
                out.extend(stroke(base).to_lowercase());
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Latin letters with precomposed accents: Latin-1 Supplement, Extended-A
/// and -B, Latin Extended Additional (Vietnamese).
fn is_latin(c: char) -> bool {
    matches!(c, '\u{00c0}'..='\u{024f}' | '\u{1e00}'..='\u{1eff}')
}

/// A query as the words [`AgentSearch::words`] takes: folded, split at
/// anything but letters and digits, at most [`MAX_SEARCH_WORDS`] of at most
/// [`MAX_WORD_CHARS`] characters, repeats dropped.
pub fn search_words(query: &str) -> Vec<String> {
    let folded = fold(query);
    let mut words: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word: String = word.chars().take(MAX_WORD_CHARS).collect();
        if !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_SEARCH_WORDS {
            break;
        }
    }
    words
}

/// What a toolset's name may be, for error messages.
pub const TOOLSET_RULE: &str =
    "1 to 40 lower-case letters, digits, '-' or '_', starting with a letter or digit";

/// A toolset's name as users type it in a URL: 1–40 of `a-z 0-9 _ -`,
/// starting with a letter or digit.
pub fn valid_toolset(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs as
// text). The search itself is each backend's own (FTS5, tsvector).

pub(super) const TOOLBOX_OF: &str = "SELECT agent_id FROM toolbox_agents \
     WHERE user_id = $1 AND toolset = $2 ORDER BY added_at, agent_id";
pub(super) const ADD_TO_TOOLBOX: &str = "INSERT INTO toolbox_agents (user_id, toolset, agent_id) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// A purchase joins the buyer's toolbox, if it is their first entitlement
/// to that agent: a renewal or a re-grant never puts back an agent the
/// user removed. `$1`: the new entitlement's id.
pub(crate) const JOIN_ON_FIRST_PURCHASE: &str = "INSERT INTO toolbox_agents (user_id, toolset, agent_id) \
     SELECT n.user_id, '', n.agent_id FROM entitlements n WHERE n.id = $1 \
     AND NOT EXISTS (SELECT 1 FROM entitlements e \
                     WHERE e.user_id = n.user_id AND e.agent_id = n.agent_id AND e.id <> n.id) \
     ON CONFLICT DO NOTHING";
/// From one named toolset.
pub(super) const REMOVE_FROM_TOOLSET: &str =
    "DELETE FROM toolbox_agents WHERE user_id = $1 AND toolset = $2 AND agent_id = $3";
/// From the toolbox and so from every toolset: the toolsets it was in.
pub(super) const REMOVE_FROM_TOOLBOX: &str =
    "DELETE FROM toolbox_agents WHERE user_id = $1 AND agent_id = $2 RETURNING toolset";
/// Sorted by the caller (PostgreSQL's collation may not be bytewise).
pub(super) const TOOLSETS: &str = "SELECT toolset, count(*) AS agents FROM toolbox_agents \
     WHERE user_id = $1 AND toolset <> '' GROUP BY toolset";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_folds_to_plain_letters() {
        assert_eq!(fold("Tóm tắt văn bản"), "tom tat van ban");
        assert_eq!(fold("Đà Nẵng, Huế"), "da nang, hue");
        assert_eq!(fold("NGƯỜI ĐẸP"), "nguoi dep");
        assert_eq!(fold("Dịch thuật"), "dich thuat");
        // Composed and decomposed spellings fold alike.
        assert_eq!(fold("e\u{0301}"), fold("\u{00e9}"));
        // Other scripts keep their letters, as the databases store them.
        assert_eq!(fold("Йога"), "йога");
        assert_eq!(fold("И\u{0306}ога"), "йога");
        assert_eq!(fold("がっこう"), "がっこう");
        assert_eq!(fold("한국어"), "한국어");
    }

    #[test]
    fn queries_become_bounded_words() {
        assert_eq!(search_words("  Tóm-tắt!! tóm "), ["tom", "tat"]);
        assert_eq!(search_words("\"a\" OR b*"), ["a", "or", "b"]);
        assert!(search_words("  ,.; ").is_empty());
        assert_eq!(search_words(&"w ".repeat(3)), ["w"]);
        let many: String = (0..20).map(|i| format!("w{i} ")).collect();
        assert_eq!(search_words(&many).len(), MAX_SEARCH_WORDS);
        assert_eq!(search_words(&"x".repeat(100))[0].len(), MAX_WORD_CHARS);
    }

    #[test]
    fn toolset_names() {
        for ok in ["writing", "data-2", "a", "x_y"] {
            assert!(valid_toolset(ok), "{ok}");
        }
        for bad in ["", "-a", "Writing", "a b", "é", &"a".repeat(41)] {
            assert!(!valid_toolset(bad), "{bad}");
        }
    }
}
