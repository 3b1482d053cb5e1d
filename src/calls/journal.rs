//! The Shadow Journal writer: group commit for `execution_logs`.
//!
//! Calls submit their row writes here and wait for the commit, so "durable
//! before the engine is called" still holds for every call; concurrent calls
//! share one transaction (one WAL append on SQLite, one fsync on PostgreSQL)
//! instead of paying one each. A batch that fails as a whole is retried op
//! by op, so one bad row cannot fail its neighbours.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::store::{
    ExecutionOutcome, JournalOp, JournalResult, JournalStore, NewExecutionLog, StoreError,
    StoreResult,
};

/// Most ops committed in one transaction.
const MAX_BATCH: usize = 256;

struct Pending {
    op: JournalOp,
    reply: oneshot::Sender<StoreResult<JournalResult>>,
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Pending>,
}

impl Journal {
    /// Spawn `writers` batch writers over the store's journal aggregate (1
    /// for SQLite's single writer; a few for PostgreSQL).
    pub fn start(store: Arc<dyn JournalStore>, writers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Pending>(MAX_BATCH * 16);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            let (store, rx) = (store.clone(), rx.clone());
            tokio::spawn(async move { write_loop(store, rx).await });
        }
        Self { tx }
    }

    async fn submit(&self, op: JournalOp) -> StoreResult<JournalResult> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the journal writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the journal writer has stopped".into()))?
    }

    /// Reserve `reserve` credits and insert the row of a call about to reach
    /// its engine; returns once committed. `InsufficientCredits` means the
    /// row was recorded `failed` and the engine must not be called.
    pub async fn start_call(
        &self,
        row: NewExecutionLog,
        reserve: i32,
    ) -> StoreResult<JournalResult> {
        self.submit(JournalOp::Start { row, reserve }).await
    }

    /// Insert the finished row of a call refused before the engine.
    pub async fn record(&self, row: NewExecutionLog, outcome: ExecutionOutcome) -> StoreResult<()> {
        self.submit(JournalOp::Record(row, outcome))
            .await
            .map(|_| ())
    }

    /// Finish a running row and settle its credits; `Unchanged` if it was
    /// already finished (and settled).
    pub async fn finish(
        &self,
        id: Uuid,
        user_id: Uuid,
        outcome: ExecutionOutcome,
    ) -> StoreResult<JournalResult> {
        self.submit(JournalOp::Finish {
            id,
            user_id,
            outcome,
        })
        .await
    }
}

async fn write_loop(store: Arc<dyn JournalStore>, rx: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
        }
        let ops: Vec<JournalOp> = batch.iter().map(|p| p.op.clone()).collect();
        let started = std::time::Instant::now();
        let written = store.write_journal(&ops).await;
        metrics::histogram!("vieagent_journal_write_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("vieagent_journal_batch_ops").record(ops.len() as f64);
        match written {
            Ok(results) => {
                for (pending, changed) in batch.into_iter().zip(results) {
                    let _ = pending.reply.send(Ok(changed));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(pending) = batch.pop() {
                    let _ = pending.reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, ops = batch.len(), "journal batch failed; retrying op by op");
                for pending in batch {
                    let result = store
                        .write_journal(std::slice::from_ref(&pending.op))
                        .await
                        .and_then(|r| {
                            r.first().copied().ok_or_else(|| {
                                StoreError::Database("the journal returned no result".into())
                            })
                        });
                    let _ = pending.reply.send(result);
                }
            }
        }
    }
}
