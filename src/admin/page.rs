//! Keyset paging for the admin API's lists: the page size, opaque cursors
//! (base64 of the last item's key), and one page cut from the rows the store
//! returned.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::error::{Error, FieldError};

/// Limit query parameter: 1..=1000, default 100.
pub(super) fn page_size(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(Error::InvalidInput(
            "limit: must be between 1 and 1000".into(),
        )),
    }
}

/// One page of a list asked of the store with `limit + 1` rows: the extra
/// row only says that a next page exists, whose cursor is `key` of this
/// page's last item.
pub(super) fn page<R, V>(
    rows: Vec<R>,
    limit: u32,
    view: impl FnMut(R) -> V,
    key: impl Fn(&V) -> String,
) -> (Vec<V>, Option<String>) {
    let more = rows.len() > limit as usize;
    let items: Vec<V> = rows.into_iter().take(limit as usize).map(view).collect();
    let next_cursor = more.then(|| items.last().map(key)).flatten();
    (items, next_cursor)
}

/// A text key's cursor (sorted by that text).
pub(super) fn text_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// A (created_at, id) key's cursor (newest first).
pub(super) fn time_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    text_cursor(&format!(
        "{}|{id}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    ))
}

/// The text key a cursor carries; none or empty means the first page.
pub(super) fn after_text(cursor: Option<&str>) -> Result<Option<String>, Error> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(bad_cursor)
}

/// The (created_at, id) key a cursor carries; none or empty means the first page.
pub(super) fn before_time(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, Error> {
    let Some(text) = after_text(cursor)? else {
        return Ok(None);
    };
    let (at, id) = text.split_once('|').ok_or_else(bad_cursor)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad_cursor())?
        .with_timezone(&Utc);
    let id = Uuid::parse_str(id).map_err(|_| bad_cursor())?;
    Ok(Some((at, id)))
}

fn bad_cursor() -> Error {
    Error::Validation(vec![FieldError::new(
        "cursor",
        "cursor",
        "is not a cursor this API issued (pass next_cursor from the previous page)",
    )])
}
