//! The web app's languages: Vietnamese and English, from the Fluent
//! catalogs in `locales/{vi,en}/*.ftl` (compiled into the binary).
//!
//! A page's language is, in order: the one the person chose (the
//! `vieagent_lang` cookie, set by the switcher), the best match in the
//! browser's `Accept-Language`, then `web.default_locale`. Every text a
//! person reads comes from the catalogs (plurals included); agent names and
//! descriptions stay as their authors wrote them. A unit test fails when a
//! message is in one catalog and not the other, or when the code asks for
//! one that neither has.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Plain text in HTML: no Unicode isolation marks around arguments.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static EN: LanguageIdentifier = langid!("en");
static VI: LanguageIdentifier = langid!("vi");

/// The cookie that keeps a person's choice.
pub const LANG_COOKIE: &str = "vieagent_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Vi, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Its own name, as the switcher shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Vi => "Tiếng Việt",
            Lang::En => "English",
        }
    }

    /// `vi`, `vi-VN`, `en`, `en-US`, … (case-insensitive).
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best supported language of an `Accept-Language` header (by
    /// q-value, then order), if any.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate().take(32) {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::parse) else {
                continue;
            };
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, lang)| lang)
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

/// An argument of a message.
pub enum Arg<'a> {
    Str(&'a str),
    Num(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Arg<'a> {
        Arg::Str(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Arg<'a> {
        Arg::Str(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Num(n)
    }
}

impl From<i32> for Arg<'_> {
    fn from(n: i32) -> Self {
        Arg::Num(n.into())
    }
}

impl From<u64> for Arg<'_> {
    fn from(n: u64) -> Self {
        Arg::Num(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Arg<'_> {
    fn from(n: usize) -> Self {
        Arg::Num(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// The messages of one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Tr { lang }
    }

    /// A message without arguments.
    pub fn t(&self, id: &str) -> String {
        self.a(id, &[])
    }

    /// A message with named arguments.
    pub fn a(&self, id: &str, args: &[(&'static str, Arg<'_>)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(name, arg)| {
                let value = match arg {
                    Arg::Str(s) => FluentValue::from(s.to_string()),
                    Arg::Num(n) => FluentValue::from(*n),
                };
                (Cow::Borrowed(*name), value)
            })
            .collect();
        self.lookup(id, &map)
    }

    /// The message `id` with `args`; a missing one is logged and shows its id.
    fn lookup(&self, id: &str, args: &HashMap<Cow<'static, str>, FluentValue>) -> String {
        match LOCALES.try_lookup_complete(self.lang.id(), id, Some(args)) {
            Some(text) => text,
            None => {
                tracing::error!(message_id = id, lang = self.lang.code(), "missing message");
                id.to_string()
            }
        }
    }
}

impl Tr {
    /// A message with each named argument left as `{name}`, for a page's
    /// script to fill (the MCP App's sentences), except `count`, given as
    /// the number 1 (a plural message's "one" form); without it a plural
    /// message takes its default form.
    pub fn template(&self, id: &str, names: &[&str], count: Option<&str>) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = names
            .iter()
            .map(|name| {
                let value = if count == Some(*name) {
                    FluentValue::from(1)
                } else {
                    FluentValue::from(format!("{{{name}}}"))
                };
                (Cow::Owned((*name).to_string()), value)
            })
            .collect();
        self.lookup(id, &map)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The message ids a catalog defines (`id = …` at the start of a line).
    fn ids(ftl: &str) -> BTreeSet<String> {
        ftl.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once('='))
            .map(|(id, _)| id.trim().to_string())
            .collect()
    }

    /// Every `.ftl` file of a language (the loader reads them all).
    fn catalog(lang: &str) -> String {
        let dir = format!("{}/locales/{lang}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{dir} has no catalog");
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn both_languages_have_the_same_messages() {
        let vi = ids(&catalog("vi"));
        let en = ids(&catalog("en"));
        let only_en: Vec<_> = en.difference(&vi).collect();
        let only_vi: Vec<_> = vi.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in Vietnamese: {only_en:?}");
        assert!(only_vi.is_empty(), "missing in English: {only_vi:?}");
        assert!(en.len() > 100, "{}", en.len());
    }

    /// Every id the web code names (any string literal shaped like a
    /// message id, with one of the catalogs' prefixes) resolves in both
    /// languages: ids picked in a `match` are caught too.
    #[test]
    fn every_message_the_code_uses_exists() {
        const PREFIXES: &[&str] = &[
            "apikeys-",
            "assistants-",
            "back-",
            "call-",
            "catalog-",
            "connect-",
            "cost-",
            "credits-",
            "csrf-",
            "draft-",
            "duration-",
            "error-",
            "form-",
            "help-",
            "history-",
            "keys-",
            "lang-",
            "ledger-",
            "link-",
            "login-",
            "nav-",
            "price-",
            "run-",
            "sign-",
            "signin-",
            "signup-",
            "buy-",
            "top-",
            "skip-",
            "start-",
            "status-",
            "title-",
            "tool-",
            "tools-",
            "toolbox-",
        ];
        const WHOLE: &[&str] = &["yes", "no", "run", "cancel", "buy"];
        // HTML ids and labels that share a prefix with messages.
        const NOT_MESSAGES: &[&str] = &[
            "error-summary",
            "connect-link",
            "run-again",
            "signin-marketplace",
        ];
        let dir = format!("{}/src/web", env!("CARGO_MANIFEST_DIR"));
        let mut used = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("src/web") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("i18n.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("source");
            for (i, literal) in source.split('"').enumerate() {
                let is_id = i % 2 == 1
                    && !literal.is_empty()
                    && !literal.ends_with('-')
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && (PREFIXES.iter().any(|p| literal.starts_with(p))
                        || WHOLE.contains(&literal))
                    && !NOT_MESSAGES.contains(&literal);
                if is_id {
                    used.insert(literal.to_string());
                }
            }
        }
        assert!(used.len() > 100, "{used:?}");
        let vi = ids(&catalog("vi"));
        let en = ids(&catalog("en"));
        let missing: Vec<_> = used
            .iter()
            .filter(|id| !vi.contains(*id) || !en.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "used but not in both catalogs: {missing:?}"
        );
        // Every argument a message may take, so formatting cannot fail.
        let args: HashMap<Cow<'static, str>, FluentValue> = [
            "amount",
            "currency",
            "email",
            "field",
            "first",
            "item",
            "max",
            "min",
            "name",
            "names",
            "price",
            "provider",
            "providers",
            "query",
            "reference",
            "second",
            "title",
            "tool",
            "value",
        ]
        .into_iter()
        .map(|a| (Cow::Borrowed(a), FluentValue::from("x")))
        .chain([(Cow::Borrowed("n"), FluentValue::from(2))])
        .collect();
        for lang in Lang::ALL {
            for id in &used {
                assert!(
                    LOCALES
                        .try_lookup_complete(lang.id(), id, Some(&args))
                        .is_some(),
                    "{id} does not resolve in {}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn plurals_and_arguments() {
        let en = Tr::new(Lang::En);
        assert_eq!(en.a("credits-count", &[("n", 1.into())]), "1 credit");
        assert_eq!(en.a("credits-count", &[("n", 5.into())]), "5 credits");
        let vi = Tr::new(Lang::Vi);
        assert_eq!(vi.a("credits-count", &[("n", 1.into())]), "1 tín dụng");
    }

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            Lang::from_accept_language("vi-VN,vi;q=0.9,en;q=0.8"),
            Some(Lang::Vi)
        );
        assert_eq!(
            Lang::from_accept_language("fr, en-GB;q=0.5, vi;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("en;q=0.1, vi"), Some(Lang::Vi));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("vi;q=0"), None);
        assert_eq!(Lang::parse("EN_us"), Some(Lang::En));
    }
}
