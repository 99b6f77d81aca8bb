//! A client's session as the broker holds it: the protocol state (`mqtt_session::Session`), which
//! connection currently drives it, and its will.
//!
//! Each client has its own lock, so that routing a message to many subscribers takes many small
//! locks rather than one global one, and an offline client's session keeps queueing messages.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use mqtt_codec::ProtocolVersion;
use mqtt_session::{Message, MessageId, Session};
use tokio::sync::Notify;

use crate::router::GroupId;

/// Identifies one network connection; a session is driven by at most one at a time.
pub(crate) type ConnectionId = u64;

/// A Will Message waiting for its client's connection to end (spec 3.1.2.5).
#[derive(Debug, Clone)]
pub(crate) struct Will {
    pub(crate) message: Message,
    /// Will Delay Interval in seconds (MQTT 5).
    pub(crate) delay: u32,
    /// Once its connection ended: the wall-clock milliseconds at which it is published (it
    /// stays in the session until then, and is stored with it).
    pub(crate) due_at: Option<u64>,
}

/// What kind of participant a session belongs to (Mosquitto's `is_bridge` and `bridge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Role {
    /// An ordinary client.
    #[default]
    Client,
    /// A remote broker's bridge that connected with Mosquitto's private protocol level (0x83,
    /// 0x84, `try_private`): its MQTT 3.1/3.1.1 subscriptions get No Local and Retain As
    /// Published, so that it is not sent back its own messages and retained flags survive.
    /// Authentication and ACLs apply to it as to any client.
    RemoteBridge,
    /// The local end of one of this broker's own bridges (`bridge` module): not authenticated,
    /// and ACLs are not checked for it, as in Mosquitto.
    LocalBridge,
}

/// Queues a retained message that a SUBSCRIBE (of a client or a bridge) brought. As
/// Mosquitto: every retained QoS 0 message goes out, however many (`max_queued_messages` only
/// bounds QoS 0 for a subscriber that does not keep up with live traffic); QoS 1/2 ones queue
/// within the session's limits. What the limits refuse is dropped, as for live traffic.
pub(crate) fn queue_retained(session: &mut Session, now: mqtt_session::Instant, m: Message) {
    let _ = if m.qos == mqtt_codec::QoS::AtMostOnce {
        let limits = mqtt_session::QueueLimits {
            messages: 0,
            bytes: 0,
        };
        session.publish_within(now, m, limits)
    } else {
        session.publish(now, m)
    };
}

/// Mutable state of one client session.
#[derive(Debug)]
pub(crate) struct ClientState {
    pub(crate) session: Session,
    /// The connection driving the session, if one is.
    pub(crate) owner: Option<ConnectionId>,
    /// Increases with every new connection, so that delayed actions (will delay, session expiry)
    /// can tell whether the client came back in the meantime.
    pub(crate) generation: u64,
    /// Boxed: most clients have none, and every session carries the field.
    pub(crate) will: Option<Box<Will>>,
    pub(crate) version: ProtocolVersion,
    pub(crate) username: Option<Box<str>>,
    /// MQTT 3.1/3.1.1 Clean Session, or MQTT 5 Clean Start.
    pub(crate) clean_start: bool,
    /// The `mount_point` of the listener the client connected through.
    pub(crate) mount_point: Option<Arc<str>>,
    /// The listener the client (last) connected through: its index in `Config::listeners`.
    pub(crate) listener: usize,
    /// Messages this client got through a shared subscription and has not completed: if its
    /// session ends, they go to another member of the group (spec 4.8.2).
    pub(crate) shared: SharedLinks,
    /// Wall-clock milliseconds at which the session ends while its client stays away (stored
    /// with it by persistence); `None` while connected or when it never expires.
    pub(crate) expires_at: Option<u64>,
    /// Whether the store may hold a record of this session (persistence): a session that stops
    /// being persistent must then be deleted from it.
    pub(crate) persisted: bool,
    /// Which of its messages have records in the store (persistence).
    pub(crate) records: crate::store::MessageRecords,
    /// Who drives the session (set by every CONNECT).
    pub(crate) role: Role,
}

/// Messages a client got through a shared subscription, each with its group. Boxed, and only
/// once there is one: every session carries the field, and most clients never use a shared
/// subscription.
/// (Boxed on purpose: the box is 8 bytes where an empty `HashMap` is 48.)
#[derive(Debug, Default)]
#[allow(clippy::box_collection)]
pub(crate) struct SharedLinks(Option<Box<HashMap<MessageId, GroupId>>>);

impl SharedLinks {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }

    pub(crate) fn get(&self, id: &MessageId) -> Option<&GroupId> {
        self.0.as_ref()?.get(id)
    }

    pub(crate) fn insert(&mut self, id: MessageId, group: GroupId) {
        self.0.get_or_insert_with(Box::default).insert(id, group);
    }

    pub(crate) fn remove(&mut self, id: &MessageId) -> Option<GroupId> {
        self.0.as_mut()?.remove(id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&MessageId, &GroupId)> {
        self.0.iter().flat_map(|m| m.iter())
    }
}

/// Wakes the task of the connection that drives a client's session: routers queued messages
/// for it, another connection took it over, the server is shutting down.
///
/// Lighter than a `tokio::sync::Notify`, whose waiting side is a 64-byte `Notified` future
/// that every idle connection's task kept: here the waiting task keeps nothing. A wake-up
/// takes the registered waker and wakes it, so a task that finds its waker gone knows it was
/// woken since it last looked. While a session changes connections (takeover) the old and the
/// new task may both look: the newer connection's registration wins, and the older one, finding
/// it, is told to look again (it then finds it lost the session and ends).
#[derive(Debug, Default)]
pub(crate) struct Wake {
    waiter: Mutex<Option<(ConnectionId, Waker)>>,
}

impl Wake {
    /// Wakes the registered task, if any; otherwise its next look sees the wake-up.
    pub(crate) fn notify_one(&self) {
        let waiter = self.lock().take();
        if let Some((_, waker)) = waiter {
            waker.wake();
        }
    }

    /// `Ready` if a wake-up came since connection `conn`'s task last looked (spuriously the
    /// first time), else registers it to be woken.
    pub(crate) fn poll_woken(&self, conn: ConnectionId, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiter = self.lock();
        match &*waiter {
            Some((id, waker)) if *id == conn && waker.will_wake(cx.waker()) => Poll::Pending,
            Some((id, _)) if *id > conn => Poll::Ready(()),
            _ => {
                *waiter = Some((conn, cx.waker().clone()));
                Poll::Ready(())
            }
        }
    }

    /// Resolves on a wake-up for connection `conn` (see [`Wake::poll_woken`]).
    pub(crate) async fn woken(&self, conn: ConnectionId) {
        std::future::poll_fn(|cx| self.poll_woken(conn, cx)).await;
    }

    /// Drops connection `conn`'s registration (it ended): the waker holds on to its task.
    pub(crate) fn forget(&self, conn: ConnectionId) {
        let mut waiter = self.lock();
        if waiter.as_ref().is_some_and(|(id, _)| *id == conn) {
            *waiter = None;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<(ConnectionId, Waker)>> {
        self.waiter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A client session shared between its connection task and the routers that deliver to it.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: Arc<str>,
    state: Mutex<ClientState>,
    /// Wakes the connection task when messages were queued for it or it was taken over.
    pub(crate) wake: Wake,
    /// Wakes the publishers paused because this client's queue was backlogged, once it is
    /// not (or the client went away): see `connection.rs`, "Backpressure".
    /// Made by the first publisher that waits: most clients never have one.
    drained: std::sync::OnceLock<Box<Notify>>,
    /// Whether a publisher may be waiting on `drained`: spares the connection a wake-up call
    /// per write when nobody waits.
    pub(crate) watched: AtomicBool,
}

impl Client {
    pub(crate) fn new(id: Arc<str>, state: ClientState) -> Self {
        Client {
            id,
            state: Mutex::new(state),
            wake: Wake::default(),
            drained: std::sync::OnceLock::new(),
            watched: AtomicBool::new(false),
        }
    }

    /// Whether publishers to this client should pause: it is connected and its queue is
    /// backlogged. An offline client's queue is bounded by `max_queued_messages` instead.
    pub(crate) fn is_congested(&self) -> bool {
        let st = self.lock();
        st.owner.is_some() && st.session.is_backlogged()
    }

    /// What publishers paused by this client wait on (see `drained`).
    pub(crate) fn drained(&self) -> &Notify {
        self.drained.get_or_init(Box::default)
    }

    /// Releases the publishers waiting on this client, if any.
    pub(crate) fn release_waiters(&self) {
        if self.watched.swap(false, AtomicOrdering::SeqCst) {
            if let Some(drained) = self.drained.get() {
                drained.notify_waiters();
            }
        }
    }

    /// Locks the state. A panic while the lock was held (a bug) must not take the broker
    /// down with it: the state is used as it was left.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A handle on a client, compared by client identifier: the subscription table's key.
#[derive(Debug, Clone)]
pub(crate) struct ClientRef(pub(crate) Arc<Client>);

impl ClientRef {
    pub(crate) fn id(&self) -> &str {
        &self.0.id
    }
}

impl PartialEq for ClientRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.id == other.0.id
    }
}

impl Eq for ClientRef {}

impl Hash for ClientRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialOrd for ClientRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClientRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.id.cmp(&other.0.id)
    }
}
