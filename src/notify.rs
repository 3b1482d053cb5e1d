//! Tool-list change fan-out: the peers of connected MCP sessions (every
//! transport registers its own), so a catalog change, or a change to one
//! user's entitlements, reaches each session as
//! `notifications/tools/list_changed`. Shared by the transports, the admin
//! API and the metrics, which is why it lives below all of them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::{Peer, RoleServer};
use uuid::Uuid;

struct SessionEntry {
    id: u64,
    transport: &'static str,
    /// Whose session (unknown: told about every change).
    user: Option<Uuid>,
    peer: Peer<RoleServer>,
}

/// Connected sessions, for `tools/list_changed` fan-out.
pub struct SessionRegistry {
    next_id: AtomicU64,
    peers: Mutex<Vec<SessionEntry>>,
    listeners: Arc<AtomicUsize>,
    /// Users whose tool list changed, for the 2026-07-28
    /// `subscriptions/listen` streams (no session to register: each stream
    /// subscribes and picks its own user).
    users: tokio::sync::broadcast::Sender<Uuid>,
}

impl Default for SessionRegistry {
    fn default() -> Self {
        Self {
            next_id: AtomicU64::new(0),
            peers: Mutex::new(Vec::new()),
            listeners: Arc::default(),
            users: tokio::sync::broadcast::channel(256).0,
        }
    }
}

/// Counts a live `subscriptions/listen` while held.
pub struct ListenerGuard(Arc<AtomicUsize>);

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SessionRegistry {
    pub fn register(&self, peer: Peer<RoleServer>, transport: &'static str, user: Option<Uuid>) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut peers) = self.peers.lock() {
            peers.retain(|e| !e.peer.is_transport_closed());
            peers.push(SessionEntry {
                id,
                transport,
                user,
                peer,
            });
        }
    }

    pub fn track_listener(&self, _transport: &'static str) -> ListenerGuard {
        self.listeners.fetch_add(1, Ordering::SeqCst);
        ListenerGuard(self.listeners.clone())
    }

    /// Live sessions per transport (closed ones are dropped).
    pub fn active(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        if let Ok(mut peers) = self.peers.lock() {
            peers.retain(|e| !e.peer.is_transport_closed());
            for SessionEntry { transport, .. } in peers.iter() {
                match counts.iter_mut().find(|(t, _)| t == transport) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((transport, 1)),
                }
            }
        }
        let listeners = self.listeners.load(Ordering::SeqCst);
        if listeners > 0 {
            counts.push(("subscriptions", listeners));
        }
        counts
    }

    /// Tell every live session that the tool list changed.
    pub async fn notify_tool_list_changed(&self) {
        self.notify(None).await;
    }

    /// Tell one user's sessions that their tool list changed (an entitlement
    /// was granted or revoked), and their `subscriptions/listen` streams.
    pub async fn notify_user_tool_list_changed(&self, user: Uuid) {
        // No stream listening is no error.
        let _ = self.users.send(user);
        self.notify(Some(user)).await;
    }

    /// The users whose tool list changes from now on (a lagging receiver
    /// missed some: it should assume its user's did).
    pub fn subscribe_users(&self) -> tokio::sync::broadcast::Receiver<Uuid> {
        self.users.subscribe()
    }

    async fn notify(&self, only: Option<Uuid>) {
        let peers: Vec<(u64, Peer<RoleServer>)> = match self.peers.lock() {
            Ok(mut peers) => {
                peers.retain(|e| !e.peer.is_transport_closed());
                peers
                    .iter()
                    .filter(|e| only.is_none() || e.user.is_none() || e.user == only)
                    .map(|e| (e.id, e.peer.clone()))
                    .collect()
            }
            Err(_) => return,
        };
        let mut dead = Vec::new();
        for (id, peer) in peers {
            let sent =
                tokio::time::timeout(Duration::from_secs(5), peer.notify_tool_list_changed()).await;
            if !matches!(sent, Ok(Ok(()))) {
                dead.push(id);
            }
        }
        if !dead.is_empty()
            && let Ok(mut peers) = self.peers.lock()
        {
            peers.retain(|e| !dead.contains(&e.id));
        }
    }
}
