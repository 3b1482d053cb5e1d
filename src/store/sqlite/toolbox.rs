//! Toolboxes, toolsets and catalog search on SQLite: FTS5 (`agent_search`,
//! kept in sync with `agents` by triggers, see migration 0022).

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, query};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::row::RowExt;
use crate::store::sql::all;
use crate::store::toolbox::{self as shared, TOOLBOX};
use crate::store::*;

/// `bm25` weights, one per column of `agent_search`: agent_id (not
/// searched), tool_name, name, description.
const RANK: &str = "bm25(agent_search, 0.0, 10.0, 10.0, 1.0)";

#[async_trait]
impl ToolboxStore for SqliteStore {
    async fn search_agents(&self, search: &AgentSearch) -> StoreResult<Vec<Uuid>> {
        if search.among.as_ref().is_some_and(Vec::is_empty) || search.limit == 0 {
            return Ok(Vec::new());
        }
        let matching = fts5_query(&search.words);
        let mut q = QueryBuilder::new("SELECT a.id FROM ");
        match &matching {
            Some(_) => q.push(
                "agent_search JOIN agents a ON a.id = agent_search.agent_id \
                 WHERE agent_search MATCH ",
            ),
            None => q.push("agents a WHERE TRUE"),
        };
        if let Some(matching) = &matching {
            q.push_bind(matching.clone());
        }
        q.push(" AND a.status = 'published'");
        if search.free {
            q.push(
                " AND COALESCE(CAST(a.price_one_time AS REAL), 0) = 0 \
                 AND COALESCE(CAST(a.price_monthly AS REAL), 0) = 0",
            );
        }
        if let Some(among) = &search.among {
            let ids: Vec<String> = among.iter().map(Uuid::to_string).collect();
            q.push(" AND a.id IN (SELECT value FROM json_each(")
                .push_bind(serde_json::to_string(&ids).map_err(StoreError::corrupt)?)
                .push("))");
        }
        if let Some(key) = &search.needs_key {
            q.push(
                " AND EXISTS (SELECT 1 FROM json_each(a.required_credential_types) \
                 WHERE value = ",
            )
            .push_bind(key.clone())
            .push(")");
        }
        q.push(" ORDER BY ");
        if matching.is_some() {
            q.push(RANK).push(", ");
        }
        q.push("a.tool_name LIMIT ")
            .push_bind(i64::from(search.limit))
            .push(" OFFSET ")
            .push_bind(i64::from(search.offset));
        all(&self.reader, q.build(), |r: &SqliteRow| r.uuid("id")).await
    }

    async fn toolbox(&self, user_id: Uuid, toolset: &str) -> StoreResult<Vec<Uuid>> {
        let q = query(shared::TOOLBOX_OF)
            .bind(user_id.to_string())
            .bind(toolset);
        all(&self.reader, q, |r: &SqliteRow| r.uuid("agent_id")).await
    }

    async fn add_to_toolbox(
        &self,
        user_id: Uuid,
        toolset: &str,
        agent_id: Uuid,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        let added = query(shared::ADD_TO_TOOLBOX)
            .bind(user_id.to_string())
            .bind(toolset)
            .bind(agent_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if toolset != TOOLBOX {
            query(shared::ADD_TO_TOOLBOX)
                .bind(user_id.to_string())
                .bind(TOOLBOX)
                .bind(agent_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_from_toolbox(
        &self,
        user_id: Uuid,
        toolset: &str,
        agent_id: Uuid,
    ) -> StoreResult<bool> {
        if toolset == TOOLBOX {
            let q = query(shared::REMOVE_FROM_TOOLBOX)
                .bind(user_id.to_string())
                .bind(agent_id.to_string());
            let sets = all(&self.writer, q, |r: &SqliteRow| r.text("toolset")).await?;
            return Ok(sets.iter().any(|s| s == TOOLBOX));
        }
        let done = query(shared::REMOVE_FROM_TOOLSET)
            .bind(user_id.to_string())
            .bind(toolset)
            .bind(agent_id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn toolsets(&self, user_id: Uuid) -> StoreResult<Vec<(String, u32)>> {
        let q = query(shared::TOOLSETS).bind(user_id.to_string());
        let mut sets = all(&self.reader, q, |r: &SqliteRow| {
            Ok((
                r.text("toolset")?,
                u32::try_from(r.big("agents")?).unwrap_or(u32::MAX),
            ))
        })
        .await?;
        sets.sort();
        Ok(sets)
    }

    async fn watch_toolboxes(
        &self,
        _changed: mpsc::Sender<Option<Uuid>>,
        _stop: CancellationToken,
    ) {
    }
}

/// An FTS5 query every word must match as a prefix: `"tom"* "tat"*`.
/// `None` without words.
fn fts5_query(words: &[String]) -> Option<String> {
    let terms: Vec<String> = words
        .iter()
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_a_quoted_prefix() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            fts5_query(&words(&["tom", "tat"])).as_deref(),
            Some("\"tom\"* \"tat\"*")
        );
        assert_eq!(
            fts5_query(&words(&["a\"b", ""])).as_deref(),
            Some("\"a\"\"b\"*")
        );
        assert_eq!(fts5_query(&[]), None);
        assert_eq!(fts5_query(&words(&[""])), None);
    }
}
