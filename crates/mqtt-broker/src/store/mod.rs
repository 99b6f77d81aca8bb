//! Durable persistence (`persistence true`): an embedded [redb] database, one file, holding the
//! retained messages and the persistent sessions, written by one dedicated thread with group
//! commit.
//!
//! The broker's in-memory state stays the truth; the store follows it. Changes are submitted
//! as operations: a retained message set or cleared (with its bytes), or "this session
//! changed" (with a handle on the client). The writer thread takes every operation pending at
//! that moment, resolves each changed session into its current record (or its deletion) once,
//! writes them all in one transaction and commits it: one fsync covers every connection's
//! changes of that moment. It then advances the committed sequence number that connections wait
//! on (`persistence_sync ack`) before they write anything to their socket, so that no
//! acknowledgement (CONNACK, SUBACK, PUBACK, PUBREC, ...) nor delivery leaves the broker before
//! the state it reflects is on disk.
//!
//! With `persistence_sync periodic` the same transactions are committed without fsync (redb
//! `Durability::Eventual`); every `autosave_interval` seconds (or changes, `autosave_on_changes`)
//! and at shutdown a durable commit makes all of them durable at once: a power cut rolls the file
//! back to at worst the last durable commit, as Mosquitto's snapshots; a killed process loses
//! nothing its writes had handed to the OS.
//!
//! A change that spans several sessions must reach the file whole: a QoS 2 PUBLISH is queued
//! for its subscribers *and* its packet identifier is kept in the publisher's session (so that
//! a resent PUBLISH is not routed twice). Since records are taken from the live state when the
//! writer resolves them, such a change is made under the shared side of `Store::gate`, and
//! the writer takes the exclusive side while it collects the pending operations and resolves
//! them: a transaction holds every such change entirely or not at all. (Without it, a SIGKILL
//! after a commit that caught the subscribers' side only made the publisher's resend a second
//! delivery; found by tests/crash.rs.)
//!
//! A session's messages (queued, or in flight and kept for re-sending) are records of their own,
//! written once when the session gets them and deleted once completed; the session's record
//! holds the rest (subscriptions, flow states, counters, will) and stays small however long its
//! queue. Every message record carries the *epoch* of the session it belongs to, a number given
//! to each new session of a client identifier, so that a new session's message identifiers
//! (which start again from 1) never meet the records of the one it replaced.
//!
//! On-disk format: table `meta` holds `format` = [`FORMAT_VERSION`]; `retained` maps a topic to
//! a CBOR `RetainedRecord`; `sessions` maps a client identifier to a CBOR `SessionRecord`;
//! `messages` maps (client identifier, epoch, message identifier) to a CBOR `StoredMessage`.
//! Version 1 (before `messages`) kept the messages inside the session record; such files are
//! read as they are and upgraded in place (a version 1 record is a valid version 2 record whose
//! messages are attached; the next change of that session moves them into records of their
//! own).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard};
use std::time::{Duration, Instant};

use mqtt_codec::{ProtocolVersion, SubscriptionOptions};
use mqtt_session::{HeldMessage, Message, MessageId, SessionState};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use crate::client::ClientRef;
use crate::config::{Persistence, PersistenceSync};

/// The layout version of the file. Bumped whenever a table or record changes; a file with
/// another version is refused with a clear error, never read as something it is not.
pub const FORMAT_VERSION: u64 = 2;

/// The older version this broker upgrades in place (see the module documentation).
const UPGRADABLE_FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// (client identifier, session epoch, message identifier) -> `StoredMessage`.
const MESSAGES: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("messages");

/// A stored retained message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RetainedRecord {
    pub(crate) message: Message,
    /// Wall-clock milliseconds at which its Message Expiry Interval ends.
    pub(crate) expires_at: Option<u64>,
    /// The client that published it, checked again by `check_retain_source`. Absent in
    /// records written before sources were stored (format version unchanged: such a record
    /// reads as a message of unknown source, sent without the check, as before), and for the
    /// broker's own messages.
    #[serde(default)]
    pub(crate) source: Option<crate::security::RetainSource>,
}

/// One stored subscription of a session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredSubscription {
    pub(crate) filter: String,
    pub(crate) options: SubscriptionOptions,
    pub(crate) identifier: Option<NonZeroU32>,
}

/// A stored persistent session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) version: ProtocolVersion,
    pub(crate) username: Option<String>,
    pub(crate) listener: u32,
    /// Wall-clock milliseconds at which the session ends if its client stays away; `None` while
    /// connected (counted from the restart then) or when it never expires.
    pub(crate) expires_at: Option<u64>,
    pub(crate) subscriptions: Vec<StoredSubscription>,
    /// Queued and in-flight messages both ways, packet identifier counters, session expiry.
    pub(crate) state: SessionState,
    /// Its will: of the connected client (published after a crash, as for any connection that
    /// ends without DISCONNECT), or waiting for its Will Delay Interval. Absent in records
    /// written before wills were stored, which read as none.
    #[serde(default)]
    pub(crate) will: Option<StoredWill>,
    /// Messages it received through a shared subscription and has not completed, with the
    /// group's `$share/...` filter: if the session ends, they go to another member. Absent in
    /// older records (no links then).
    #[serde(default)]
    pub(crate) shared: Vec<(MessageId, String)>,
    /// The epoch of its message records (0 in version 1 records, whose messages are in
    /// `state`).
    #[serde(default)]
    pub(crate) epoch: u64,
}

/// One message a session holds (queued, or in flight and kept for re-sending), a record of its
/// own. `M` is `&Message` when written, `Message` when read.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredMessage<M> {
    pub(crate) message: M,
    /// When its Message Expiry Interval ends (queued messages).
    pub(crate) expires_at: Option<mqtt_session::Instant>,
}

/// Which of a session's messages have records in the store, kept with the session (the writer
/// thread updates it when it resolves the session, under the client's lock). Boxed, and only
/// once there is something to keep: every session carries the field, and without persistence
/// (or before a first write) it is empty.
#[derive(Debug, Default)]
pub(crate) struct MessageRecords(Option<Box<Records>>);

#[derive(Debug, Default)]
struct Records {
    /// The epoch of this session's records; 0 until the first is given.
    epoch: u64,
    /// Identifiers of the messages with a record (ascending), under `written_epoch`.
    written: Vec<u64>,
    /// The epoch of `written`: an older session's, for a session that replaced it (its records
    /// are deleted by this one's first write), else `epoch`.
    written_epoch: u64,
}

/// A message record put (`Some`, encoded) or deleted: (epoch, message identifier, value).
pub(crate) type MessageWrite = (u64, u64, Option<Vec<u8>>);

impl MessageRecords {
    /// The records of a session restored from the store.
    pub(crate) fn restored(epoch: u64, mut written: Vec<u64>) -> Self {
        written.sort_unstable();
        MessageRecords(Some(Box::new(Records {
            epoch,
            written,
            written_epoch: epoch,
        })))
    }

    /// For a session that replaces `old` (same client identifier, clean start): it deletes
    /// the old one's records with its first write.
    pub(crate) fn replacing(old: &mut MessageRecords) -> Self {
        MessageRecords(old.0.as_mut().map(|old| {
            Box::new(Records {
                epoch: 0,
                written: std::mem::take(&mut old.written),
                written_epoch: old.written_epoch,
            })
        }))
    }

    /// The writes that bring the store to `held`, the messages the session holds now: new
    /// ones put, completed ones deleted.
    pub(crate) fn update<'a>(
        &mut self,
        held: impl Iterator<Item = HeldMessage<'a>>,
        new_epoch: impl FnOnce() -> u64,
    ) -> Vec<MessageWrite> {
        let this = self.0.get_or_insert_with(Box::default);
        this.update(held, new_epoch)
    }

    /// The epoch of this session's records (0: none written yet).
    pub(crate) fn epoch(&self) -> u64 {
        self.0.as_ref().map_or(0, |r| r.epoch)
    }

    /// Deletes every record (the session ended, or stopped being persistent).
    pub(crate) fn delete_all(&mut self) -> Vec<MessageWrite> {
        match &mut self.0 {
            Some(r) => {
                let epoch = r.written_epoch;
                r.written.drain(..).map(|id| (epoch, id, None)).collect()
            }
            None => Vec::new(),
        }
    }
}

impl Records {
    fn update<'a>(
        &mut self,
        held: impl Iterator<Item = HeldMessage<'a>>,
        new_epoch: impl FnOnce() -> u64,
    ) -> Vec<MessageWrite> {
        if self.epoch == 0 {
            self.epoch = new_epoch();
        }
        let mut writes = Vec::new();
        if self.written_epoch != self.epoch {
            let old = self.written_epoch;
            writes.extend(self.written.drain(..).map(|id| (old, id, None)));
            self.written_epoch = self.epoch;
        }
        let mut current: Vec<HeldMessage<'a>> = held.collect();
        current.sort_unstable_by_key(|h| h.id);
        let mut written = Vec::with_capacity(current.len());
        let mut old = self.written.iter().copied().peekable();
        for h in current {
            let id = h.id.0;
            while let Some(gone) = old.next_if(|o| *o < id) {
                writes.push((self.epoch, gone, None));
            }
            if old.next_if_eq(&id).is_none() {
                let record = StoredMessage {
                    message: h.message,
                    expires_at: h.expires_at,
                };
                writes.push((self.epoch, id, Some(encode(&record))));
            }
            written.push(id);
        }
        writes.extend(old.map(|gone| (self.epoch, gone, None)));
        self.written = written;
        writes
    }
}

/// A will kept with its session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredWill {
    pub(crate) message: Message,
    /// Will Delay Interval in seconds.
    pub(crate) delay: u32,
    /// Wall-clock milliseconds at which it is due, once its connection has ended.
    pub(crate) due_at: Option<u64>,
}

/// What the store holds at start-up.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) retained: Vec<RetainedRecord>,
    /// Each session with the messages of its epoch.
    pub(crate) sessions: Vec<LoadedSession>,
    /// The highest session epoch in the file.
    pub(crate) max_epoch: u64,
    /// The file has the older format: [`finish_upgrade`] once it is restored.
    pub(crate) upgrade: bool,
}

/// Marks a file of the older format, now restored, as the current one (see the module
/// documentation: its records are read as they are).
pub(crate) fn finish_upgrade(db: &Database, path: &Path) -> Result<(), StoreError> {
    let open_err = |reason: String| StoreError::Open {
        path: path.to_path_buf(),
        reason,
    };
    let tx = db.begin_write().map_err(|e| open_err(e.to_string()))?;
    tx.open_table(META)
        .map_err(|e| open_err(e.to_string()))?
        .insert("format", FORMAT_VERSION)
        .map_err(|e| open_err(e.to_string()))?;
    tx.commit().map_err(|e| open_err(e.to_string()))?;
    info!(
        "Persistence file {} upgraded from format version {UPGRADABLE_FORMAT} to {FORMAT_VERSION}.",
        path.display()
    );
    Ok(())
}

/// A stored session and its message records.
#[derive(Debug)]
pub(crate) struct LoadedSession {
    pub(crate) client_id: String,
    pub(crate) record: SessionRecord,
    pub(crate) messages: Vec<(MessageId, StoredMessage<Message>)>,
}

/// What a changed session becomes in the store, decided when its change is written.
pub(crate) enum SessionWrite {
    /// Its current record, and the changes of its message records.
    Put(Vec<u8>, Vec<MessageWrite>),
    /// It ended, or is not persistent: no record, its message records deleted.
    Delete(Vec<MessageWrite>),
    /// A newer session of the same client identifier replaced it; that one writes itself. The
    /// message records of this one that the newer did not take over are deleted.
    Skip(Vec<MessageWrite>),
}

/// Resolves a changed session into what to write (the hub's view of it).
pub(crate) type Resolver = Box<dyn Fn(&ClientRef) -> SessionWrite + Send + Sync>;

/// Why the store cannot be used; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened or read as a database (corrupt, truncated, not ours, I/O).
    #[error("Error: persistence file {path} cannot be opened: {reason}. Nothing was discarded; see docs/persistence.md (recovery) before moving or deleting it.")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file was written in a format this version does not read.
    #[error("Error: persistence file {path} has format version {found}, this broker reads version {expected}. It was written by another version of mqtt-broker; use that version, or move the file away to start empty.")]
    Format {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this broker reads.
        expected: u64,
    },
    /// A record in the file cannot be decoded or restored.
    #[error("Error: persistence file {path} holds an unreadable {what} record '{key}': {reason}. Nothing was discarded; see docs/persistence.md (recovery).")]
    Record {
        /// The database file.
        path: PathBuf,
        /// `retained` or `session`.
        what: &'static str,
        /// Its key (topic or client identifier).
        key: String,
        /// What went wrong.
        reason: String,
    },
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for these plain data types.
    if let Err(e) = ciborium::into_writer(value, &mut out) {
        error!("Error: cannot encode a persistence record: {e}");
    }
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

/// Opens (or creates) the database and reads everything in it.
pub(crate) fn open(path: &Path) -> Result<(Database, Loaded), StoreError> {
    let open_err = |reason: String| StoreError::Open {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(open_err(format!(
                "directory {} does not exist",
                dir.display()
            )));
        }
    }
    let existed = path.exists();
    let mut upgrade = false;
    if existed
        && std::fs::metadata(path)
            .map_err(|e| open_err(e.to_string()))?
            .len()
            == 0
    {
        return Err(open_err("the file is empty (truncated)".into()));
    }
    // redb 2 asserts (panics) on some truncated files rather than returning an error.
    let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Database::create(path)))
        .map_err(|_| open_err("the file is truncated or corrupt".into()))?
        .map_err(|e| open_err(e.to_string()))?;
    // The format: written by the first transaction of a new file, checked on every later start.
    {
        let tx = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| open_err(e.to_string()))?;
            let found = meta
                .get("format")
                .map_err(|e| open_err(e.to_string()))?
                .map(|v| v.value());
            match found {
                Some(v) if v == FORMAT_VERSION => {}
                // Marked as the new version only once it was restored (`finish_upgrade`): a
                // start that fails leaves it to the version that wrote it.
                Some(UPGRADABLE_FORMAT) => upgrade = true,
                Some(v) => {
                    return Err(StoreError::Format {
                        path: path.to_path_buf(),
                        found: v,
                        expected: FORMAT_VERSION,
                    })
                }
                None if existed && has_data(&tx) => {
                    return Err(open_err("no format version in the file".into()));
                }
                None => {
                    meta.insert("format", FORMAT_VERSION)
                        .map_err(|e| open_err(e.to_string()))?;
                }
            }
            tx.open_table(RETAINED)
                .map_err(|e| open_err(e.to_string()))?;
            tx.open_table(SESSIONS)
                .map_err(|e| open_err(e.to_string()))?;
            tx.open_table(MESSAGES)
                .map_err(|e| open_err(e.to_string()))?;
        }
        tx.commit().map_err(|e| open_err(e.to_string()))?;
    }
    let mut loaded = Loaded {
        upgrade,
        ..Loaded::default()
    };
    let rx = db.begin_read().map_err(|e| open_err(e.to_string()))?;
    let record_err = |what: &'static str, key: &str, reason: String| StoreError::Record {
        path: path.to_path_buf(),
        what,
        key: key.to_string(),
        reason,
    };
    let retained = rx
        .open_table(RETAINED)
        .map_err(|e| open_err(e.to_string()))?;
    for entry in retained.iter().map_err(|e| open_err(e.to_string()))? {
        let (k, v) = entry.map_err(|e| open_err(e.to_string()))?;
        let record: RetainedRecord =
            decode(v.value()).map_err(|e| record_err("retained", k.value(), e))?;
        loaded.retained.push(record);
    }
    let sessions = rx
        .open_table(SESSIONS)
        .map_err(|e| open_err(e.to_string()))?;
    let mut epochs: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for entry in sessions.iter().map_err(|e| open_err(e.to_string()))? {
        let (k, v) = entry.map_err(|e| open_err(e.to_string()))?;
        let record: SessionRecord =
            decode(v.value()).map_err(|e| record_err("session", k.value(), e))?;
        loaded.max_epoch = loaded.max_epoch.max(record.epoch);
        epochs.insert(k.value().to_string(), record.epoch);
        loaded.sessions.push(LoadedSession {
            client_id: k.value().to_string(),
            record,
            messages: Vec::new(),
        });
    }
    // Message records, in key order: grouped by client and epoch, ascending identifiers.
    let mut by_client: std::collections::HashMap<String, Vec<(MessageId, StoredMessage<Message>)>> =
        std::collections::HashMap::new();
    let mut orphans: Vec<(String, u64, u64)> = Vec::new();
    let messages = rx
        .open_table(MESSAGES)
        .map_err(|e| open_err(e.to_string()))?;
    for entry in messages.iter().map_err(|e| open_err(e.to_string()))? {
        let (k, v) = entry.map_err(|e| open_err(e.to_string()))?;
        let (client, epoch, id) = k.value();
        loaded.max_epoch = loaded.max_epoch.max(epoch);
        if epochs.get(client) != Some(&epoch) {
            orphans.push((client.to_string(), epoch, id));
            continue;
        }
        let record: StoredMessage<Message> = decode(v.value())
            .map_err(|e| record_err("message", &format!("{client}/{epoch}/{id}"), e))?;
        by_client
            .entry(client.to_string())
            .or_default()
            .push((MessageId(id), record));
    }
    drop((retained, sessions, messages, rx));
    for s in &mut loaded.sessions {
        if let Some(m) = by_client.remove(&s.client_id) {
            s.messages = m;
        }
    }
    if !orphans.is_empty() {
        // Records of no session (none is ever written so; a session's records and its record
        // change in the same transaction): nothing can deliver them.
        warn!(
            "Persistence file {}: removing {} message records that belong to no stored session.",
            path.display(),
            orphans.len()
        );
        let tx = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        {
            let mut table = tx
                .open_table(MESSAGES)
                .map_err(|e| open_err(e.to_string()))?;
            for (client, epoch, id) in &orphans {
                table
                    .remove((client.as_str(), *epoch, *id))
                    .map_err(|e| open_err(e.to_string()))?;
            }
        }
        tx.commit().map_err(|e| open_err(e.to_string()))?;
    }
    Ok((db, loaded))
}

/// Whether a file without a format key has any table of ours with data (then it is not ours,
/// or damaged: refused rather than overwritten).
fn has_data(tx: &redb::WriteTransaction) -> bool {
    let count = |t: TableDefinition<&str, &[u8]>| {
        tx.open_table(t)
            .ok()
            .and_then(|t| t.len().ok())
            .unwrap_or(0)
    };
    let messages = tx
        .open_table(MESSAGES)
        .ok()
        .and_then(|t| t.len().ok())
        .unwrap_or(0);
    count(RETAINED) + count(SESSIONS) + messages > 0
}

/// One pending change.
enum Op {
    /// A retained message set (`Some`, its encoded [`RetainedRecord`]) or cleared.
    Retained(String, Option<Vec<u8>>),
    /// A session changed: written as it is when the operation is processed.
    Session(ClientRef),
}

/// Where a record goes: its table and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A retained message, by topic.
    Retained(String),
    /// A session record, by client identifier.
    Session(String),
    /// A session's message: client identifier, epoch, message identifier.
    Message(String, u64, u64),
}

/// One write of a transaction: a record put (`Some`) or deleted (`None`).
type Record = (Key, Option<Vec<u8>>);

#[derive(Default)]
struct Pending {
    ops: Vec<Op>,
    /// Sequence number of the last operation submitted.
    submitted: u64,
    closing: bool,
}

/// How far the writer got: every operation up to `seq` is committed (or failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) seq: u64,
    /// Number of transactions that failed so far.
    pub(crate) failures: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Shared: a change that spans several sessions is being made; exclusive: the writer is
    /// collecting a consistent set of records.
    gate: ShardedLock<()>,
    /// The last commit failed (disk full, I/O error); the writer retries every second.
    failing: AtomicBool,
    /// The next session epoch to give.
    next_epoch: AtomicU64,
}

thread_local! {
    /// The sequence number of the last change submitted on this thread since
    /// [`take_submitted_here`]: a connection learns which commit its output depends on.
    static SUBMITTED_HERE: Cell<u64> = const { Cell::new(0) };
}

/// The last change submitted on this thread since the previous call (0: none), reset.
pub(crate) fn take_submitted_here() -> u64 {
    SUBMITTED_HERE.with(|c| c.replace(0))
}

/// The store: submits changes to the writer thread and waits for their commit.
pub(crate) struct Store {
    shared: Arc<Shared>,
    committed: tokio::sync::watch::Sender<Committed>,
    sync: PersistenceSync,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Store {
    /// Starts the writer thread on an open database.
    pub(crate) fn start(
        db: Database,
        path: PathBuf,
        persistence: &Persistence,
        max_epoch: u64,
        resolve: Resolver,
    ) -> Store {
        let compaction = (COMPACT_AFTER_RECORDS, COMPACT_WHEN_IDLE);
        Self::start_with(db, path, persistence, max_epoch, resolve, compaction)
    }

    fn start_with(
        db: Database,
        path: PathBuf,
        persistence: &Persistence,
        max_epoch: u64,
        resolve: Resolver,
        compaction: (u64, Duration),
    ) -> Store {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            gate: ShardedLock::new(()),
            failing: AtomicBool::new(false),
            next_epoch: AtomicU64::new(max_epoch + 1),
        });
        let committed = tokio::sync::watch::Sender::new(Committed::default());
        let writer = Writer {
            db: Some(db),
            path,
            shared: Arc::clone(&shared),
            committed: committed.clone(),
            resolve,
            sync: persistence.sync,
            autosave_interval: persistence.autosave_interval,
            autosave_on_changes: persistence.autosave_on_changes,
            compaction,
        };
        let thread = std::thread::Builder::new()
            .name("mqtt-store".into())
            .spawn(move || writer.run())
            .map_err(|e| error!("Error: cannot start the persistence writer: {e}"))
            .ok();
        Store {
            shared,
            committed,
            sync: persistence.sync,
            thread: Mutex::new(thread),
        }
    }

    fn submit(&self, op: Op) -> u64 {
        let mut p = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.ops.push(op);
        p.submitted += 1;
        let seq = p.submitted;
        drop(p);
        self.shared.wake.notify_one();
        SUBMITTED_HERE.with(|c| c.set(seq));
        seq
    }

    /// A new session epoch (see the module documentation), never given before in this file.
    pub(crate) fn new_epoch(&self) -> u64 {
        self.shared.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the last commit failed (disk full, I/O error) and the store has not recovered:
    /// changes are kept in memory and written once the file takes them again.
    pub(crate) fn is_failing(&self) -> bool {
        self.shared.failing.load(Ordering::Relaxed)
    }

    /// Held while making a change that must be stored whole (see the module documentation).
    /// Take it before any other lock of the broker, and do not hold it across an `await`.
    pub(crate) fn gate(&self) -> ShardedLockReadGuard<'_, ()> {
        self.shared.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A retained message set: `record` is its encoded [`RetainedRecord`].
    pub(crate) fn retained_set(&self, topic: &str, record: Vec<u8>) -> u64 {
        self.submit(Op::Retained(topic.to_string(), Some(record)))
    }

    /// A retained message cleared.
    pub(crate) fn retained_clear(&self, topic: &str) -> u64 {
        self.submit(Op::Retained(topic.to_string(), None))
    }

    /// A session changed (created, resumed, subscriptions, messages, ended).
    pub(crate) fn session_changed(&self, client: &ClientRef) -> u64 {
        self.submit(Op::Session(client.clone()))
    }

    /// The sequence number of the last submitted change.
    #[cfg(test)]
    pub(crate) fn submitted(&self) -> u64 {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .submitted
    }

    /// Whether acknowledgements wait for the commit of what they acknowledge.
    pub(crate) fn acks_wait(&self) -> bool {
        self.sync == PersistenceSync::Ack
    }

    /// Waits until every change up to `seq` is committed, however long the file refuses
    /// writes. `false` when the store closed first: what was to be acknowledged may not be
    /// durable.
    pub(crate) async fn wait(&self, seq: u64) -> bool {
        let mut rx = self.committed.subscribe();
        let failures = rx.borrow().failures;
        let ok = match rx.wait_for(|c| c.seq >= seq).await {
            Ok(c) => c.failures == failures,
            Err(_) => false,
        };
        ok
    }

    /// The committed position (tests, `$SYS`).
    #[allow(dead_code)]
    pub(crate) fn committed(&self) -> Committed {
        *self.committed.borrow()
    }

    /// Writes what is pending durably and stops the writer (shutdown). Idempotent.
    pub(crate) fn close(&self) {
        {
            let mut p = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            p.closing = true;
        }
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            if t.join().is_err() {
                error!("Error: the persistence writer panicked.");
            }
            // Whoever still waits for a commit will not get one.
            self.committed.send_modify(|c| {
                c.seq = u64::MAX;
                c.failures += 1;
            });
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer {
    /// `None` between a failed commit and a successful reopening.
    db: Option<Database>,
    path: PathBuf,
    shared: Arc<Shared>,
    committed: tokio::sync::watch::Sender<Committed>,
    resolve: Resolver,
    sync: PersistenceSync,
    autosave_interval: u32,
    autosave_on_changes: bool,
    /// Records written, then idle time, after which the file is compacted.
    compaction: (u64, Duration),
}

/// How often a store that failed tries to write again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Records written since the last compaction that make the next one worth it.
const COMPACT_AFTER_RECORDS: u64 = 10_000;
/// How long the store must have been idle before it compacts the file (compaction holds the
/// writer, and so every acknowledgement that waits for it).
const COMPACT_WHEN_IDLE: Duration = Duration::from_secs(30);

impl Writer {
    fn run(mut self) {
        let periodic = self.sync == PersistenceSync::Periodic;
        let interval = Duration::from_secs(u64::from(self.autosave_interval));
        let mut last_save = Instant::now();
        // Changes committed without fsync since the last durable commit (periodic mode).
        let mut unsaved: u64 = 0;
        // After a failed commit: every record not yet written, the latest per key. The live
        // state stays the truth; this only has to reach the file once it takes writes again.
        let mut dirty: BTreeMap<Key, Option<Vec<u8>>> = BTreeMap::new();
        let mut failing = false;
        // Periodic mode: what was committed without fsync since the last durable commit, which
        // a failure may roll back (the file is reopened), so it is rewritten with the rest.
        let mut since_durable: BTreeMap<Key, Option<Vec<u8>>> = BTreeMap::new();
        // Background compaction: records written since the last one, and the last write.
        let mut written_since_compact: u64 = 0;
        let mut last_write = Instant::now();
        let (after, idle) = self.compaction;
        let compact_due = |written: u64, last: Instant| {
            (written >= after).then(|| idle.saturating_sub(last.elapsed()))
        };
        loop {
            // Wait for work without holding the gate: connections take its shared side.
            {
                let mut p = self
                    .shared
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                while p.ops.is_empty() && !p.closing {
                    let timeout = if failing {
                        Some(RETRY_AFTER)
                    } else if periodic
                        && unsaved > 0
                        && !self.autosave_on_changes
                        && !interval.is_zero()
                    {
                        Some(interval.saturating_sub(last_save.elapsed()))
                    } else {
                        None
                    };
                    let timeout = match (timeout, compact_due(written_since_compact, last_write)) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    match timeout {
                        Some(left) if left.is_zero() => break,
                        Some(left) => {
                            let (guard, waited) = self
                                .shared
                                .wake
                                .wait_timeout(p, left)
                                .unwrap_or_else(|e| e.into_inner());
                            p = guard;
                            if waited.timed_out() {
                                break;
                            }
                        }
                        None => p = self.shared.wake.wait(p).unwrap_or_else(|e| e.into_inner()),
                    }
                }
                if p.ops.is_empty()
                    && !p.closing
                    && !failing
                    && compact_due(written_since_compact, last_write) == Some(Duration::ZERO)
                {
                    drop(p);
                    self.compact();
                    written_since_compact = 0;
                    last_write = Instant::now();
                    continue;
                }
            }
            // No change spanning several sessions is half made while the operations are taken
            // and the records read; the fsync happens after the gate is open again.
            let (records, count, upto, closing) = {
                let gate = self.shared.gate.write().unwrap_or_else(|e| e.into_inner());
                let (ops, upto, closing) = {
                    let mut p = self
                        .shared
                        .pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    (std::mem::take(&mut p.ops), p.submitted, p.closing)
                };
                let count = ops.len() as u64;
                let records = self.resolve_all(ops);
                drop(gate);
                (records, count, upto, closing)
            };
            if failing {
                // Retry everything not written, durably, in a reopened file.
                dirty.extend(records);
                match self.reopen().and_then(|()| self.commit(dirty.iter(), true)) {
                    Ok(()) => {
                        info!(
                            "Persistence file {} takes writes again: {} pending changes written.",
                            self.path.display(),
                            dirty.len()
                        );
                        dirty.clear();
                        failing = false;
                        self.shared.failing.store(false, Ordering::Relaxed);
                        unsaved = 0;
                        last_save = Instant::now();
                        self.committed.send_modify(|c| c.seq = upto);
                    }
                    Err(e) => {
                        if closing {
                            error!(
                                "Error: persistence file {} still refuses writes at shutdown: {} changes are lost ({e}).",
                                self.path.display(),
                                dirty.len()
                            );
                        } else {
                            debug!(
                                "Persistence file {} still refuses writes: {e}",
                                self.path.display()
                            );
                        }
                    }
                }
                if closing {
                    break;
                }
                continue;
            }
            let save_due = !periodic
                || closing
                || (self.autosave_on_changes
                    && self.autosave_interval > 0
                    && unsaved + count >= u64::from(self.autosave_interval))
                || (!self.autosave_on_changes
                    && !interval.is_zero()
                    && last_save.elapsed() >= interval);
            if count > 0 || (save_due && unsaved > 0) {
                let durable = save_due;
                let records_written = records.len() as u64;
                match self.commit(records.iter().map(|(k, v)| (k, v)), durable) {
                    Ok(()) => {
                        if durable {
                            unsaved = 0;
                            last_save = Instant::now();
                            since_durable.clear();
                        } else {
                            unsaved += count;
                            since_durable.extend(records);
                        }
                        self.committed.send_modify(|c| c.seq = upto);
                        written_since_compact += records_written;
                        last_write = Instant::now();
                    }
                    Err(e) => {
                        // Nothing is acknowledged until the file takes the changes: waiting
                        // connections wait, new QoS 1/2 messages that need storing are refused
                        // (5.0: 0x97 Quota exceeded), the rest of the broker goes on.
                        error!(
                            "Error: cannot write to persistence file {}: {e}. Retrying every \
                             {} s; messages that need storing are refused meanwhile.",
                            self.path.display(),
                            RETRY_AFTER.as_secs()
                        );
                        failing = true;
                        self.shared.failing.store(true, Ordering::Relaxed);
                        // A file that failed a write must be reopened (redb refuses further use).
                        self.db = None;
                        dirty.append(&mut since_durable);
                        dirty.extend(records);
                    }
                }
            }
            if closing {
                break;
            }
        }
    }

    /// Gives the space of deleted records back to the file system (redb reuses it anyway; this
    /// keeps the file from staying at its largest size after a burst).
    fn compact(&mut self) {
        let Some(db) = self.db.as_mut() else {
            return;
        };
        let before = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        match db.compact() {
            Ok(_) => {
                let after = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
                debug!(
                    "Compacted persistence file {}: {before} -> {after} bytes in {:?}.",
                    self.path.display(),
                    started.elapsed()
                );
            }
            Err(e) => debug!(
                "Persistence file {} not compacted: {e}",
                self.path.display()
            ),
        }
    }

    /// Opens the file again after a failure (redb refuses a database after an I/O error).
    fn reopen(&mut self) -> Result<(), String> {
        if self.db.is_some() {
            return Ok(());
        }
        let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Database::create(&self.path)
        }))
        .map_err(|_| "the file cannot be reopened".to_string())?
        .map_err(|e| e.to_string())?;
        self.db = Some(db);
        Ok(())
    }

    /// What the operations write: each changed session once, as it is now (later changes of
    /// the same batch are already in it).
    fn resolve_all(&self, ops: Vec<Op>) -> Vec<Record> {
        let mut seen: HashSet<*const crate::client::Client> = HashSet::new();
        let mut records = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Retained(topic, bytes) => records.push((Key::Retained(topic), bytes)),
                Op::Session(client) => {
                    if !seen.insert(Arc::as_ptr(&client.0)) {
                        continue;
                    }
                    let id = client.id();
                    let (head, messages) = match (self.resolve)(&client) {
                        SessionWrite::Put(bytes, messages) => (Some(Some(bytes)), messages),
                        SessionWrite::Delete(messages) => (Some(None), messages),
                        SessionWrite::Skip(messages) => (None, messages),
                    };
                    if let Some(head) = head {
                        records.push((Key::Session(id.to_string()), head));
                    }
                    records.extend(messages.into_iter().map(|(epoch, mid, value)| {
                        (Key::Message(id.to_string(), epoch, mid), value)
                    }));
                }
            }
        }
        records
    }

    fn commit<'a>(
        &self,
        records: impl Iterator<Item = (&'a Key, &'a Option<Vec<u8>>)>,
        durable: bool,
    ) -> Result<(), String> {
        let Some(db) = &self.db else {
            return Err("the file is not open".into());
        };
        Self::write(db, records, durable).map_err(|e| e.to_string())
    }

    // redb's error is large; it is turned into a message at once.
    #[allow(clippy::result_large_err)]
    fn write<'a>(
        db: &Database,
        records: impl Iterator<Item = (&'a Key, &'a Option<Vec<u8>>)>,
        durable: bool,
    ) -> Result<(), redb::Error> {
        let mut tx = db.begin_write()?;
        // Periodic mode's commits between saves: written without fsync (redb `Eventual`), so a
        // killed process loses nothing the OS got, and redb can reuse freed pages (with
        // `None` it cannot until the next durable commit, and the file grew by gigabytes
        // between saves under load).
        tx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::Eventual
        });
        {
            let mut retained = tx.open_table(RETAINED)?;
            let mut sessions = tx.open_table(SESSIONS)?;
            let mut messages = tx.open_table(MESSAGES)?;
            for (key, value) in records {
                match (key, value) {
                    (Key::Retained(k), Some(v)) => {
                        retained.insert(k.as_str(), v.as_slice())?;
                    }
                    (Key::Retained(k), None) => {
                        retained.remove(k.as_str())?;
                    }
                    (Key::Session(k), Some(v)) => {
                        sessions.insert(k.as_str(), v.as_slice())?;
                    }
                    (Key::Session(k), None) => {
                        sessions.remove(k.as_str())?;
                    }
                    (Key::Message(c, e, id), Some(v)) => {
                        messages.insert((c.as_str(), *e, *id), v.as_slice())?;
                    }
                    (Key::Message(c, e, id), None) => {
                        messages.remove((c.as_str(), *e, *id))?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn message(payload: &str) -> Message {
        let topic = mqtt_codec::TopicName::new("t").unwrap();
        Message::new(topic, payload.to_string(), mqtt_codec::QoS::AtLeastOnce)
    }

    fn held<'a>(messages: &'a [(u64, Message)]) -> impl Iterator<Item = HeldMessage<'a>> {
        messages.iter().map(|(id, message)| HeldMessage {
            id: MessageId(*id),
            message,
            expires_at: None,
        })
    }

    /// (epoch, id, put?) of each write.
    fn shape(writes: &[MessageWrite]) -> Vec<(u64, u64, bool)> {
        writes
            .iter()
            .map(|(e, id, v)| (*e, *id, v.is_some()))
            .collect()
    }

    #[test]
    fn each_message_is_written_once_and_deleted_once_completed() {
        let m: Vec<(u64, Message)> = (1..=5).map(|i| (i, message(&i.to_string()))).collect();
        let mut records = MessageRecords::default();
        let writes = records.update(held(&m[..3]), || 7);
        assert_eq!(shape(&writes), [(7, 1, true), (7, 2, true), (7, 3, true)]);
        let (_, _, bytes) = &writes[1];
        let stored: StoredMessage<Message> = decode(bytes.as_ref().unwrap()).unwrap();
        assert_eq!(stored.message, m[1].1);
        // Nothing changed: nothing written, and the epoch is not asked for again.
        assert!(records.update(held(&m[..3]), || unreachable!()).is_empty());
        // 1 completed, 4 and 5 arrived (in any order of the session's lists).
        let now = [m[4].clone(), m[1].clone(), m[2].clone(), m[3].clone()];
        let writes = records.update(held(&now), || unreachable!());
        assert_eq!(shape(&writes), [(7, 1, false), (7, 4, true), (7, 5, true)]);
        let writes = records.update(held(&m[4..]), || unreachable!());
        assert_eq!(
            shape(&writes),
            [(7, 2, false), (7, 3, false), (7, 4, false)]
        );
        assert_eq!(shape(&records.delete_all()), [(7, 5, false)]);
        assert!(records.delete_all().is_empty());
    }

    #[test]
    fn a_session_that_replaces_another_deletes_its_records_under_a_new_epoch() {
        let m: Vec<(u64, Message)> = (1..=2).map(|i| (i, message(&i.to_string()))).collect();
        let mut old = MessageRecords::restored(3, vec![2, 1]);
        let mut new = MessageRecords::replacing(&mut old);
        assert!(
            old.delete_all().is_empty(),
            "the new session took them over"
        );
        // The new session's identifiers start again from 1: its records have their own epoch.
        let writes = new.update(held(&m[..1]), || 9);
        assert_eq!(shape(&writes), [(3, 1, false), (3, 2, false), (9, 1, true)]);
        assert_eq!(new.epoch(), 9);
    }

    /// The layout of a session record before message records (format version 1).
    #[derive(Serialize)]
    struct V1SessionRecord {
        version: ProtocolVersion,
        username: Option<String>,
        listener: u32,
        expires_at: Option<u64>,
        subscriptions: Vec<StoredSubscription>,
        state: SessionState,
    }

    #[test]
    fn a_version_1_file_is_read_and_upgraded_in_place() {
        let dir = test_support::TempDir::new("store-v1");
        let path = dir.path().join("store.db");
        let mut session = mqtt_session::Session::new_server(mqtt_session::Config::default());
        let now = mqtt_session::Instant::from_millis(0);
        for p in ["a", "b", "c"] {
            session.publish(now, message(p)).unwrap();
        }
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(META).unwrap().insert("format", 1).unwrap();
            let record = encode(&V1SessionRecord {
                version: ProtocolVersion::V3_1_1,
                username: None,
                listener: 0,
                expires_at: None,
                subscriptions: Vec::new(),
                state: session.snapshot(),
            });
            tx.open_table(SESSIONS)
                .unwrap()
                .insert("old", record.as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        let (db, loaded) = open(&path).unwrap();
        assert!(loaded.upgrade);
        let format = |db: &Database| {
            let rx = db.begin_read().unwrap();
            let v = rx
                .open_table(META)
                .unwrap()
                .get("format")
                .unwrap()
                .unwrap()
                .value();
            v
        };
        assert_eq!(format(&db), 1, "not marked before it is restored");
        assert_eq!(loaded.sessions.len(), 1);
        let s = &loaded.sessions[0];
        assert_eq!((s.client_id.as_str(), s.record.epoch), ("old", 0));
        assert!(s.messages.is_empty());
        let restored =
            mqtt_session::Session::restore(mqtt_session::Config::default(), s.record.state.clone())
                .unwrap();
        let payloads: Vec<_> = restored
            .held_messages()
            .map(|h| h.message.payload.clone())
            .collect();
        assert_eq!(payloads, ["a", "b", "c"]);
        finish_upgrade(&db, &path).unwrap();
        assert_eq!(format(&db), FORMAT_VERSION);
    }

    #[test]
    fn message_records_of_no_session_are_removed_at_start() {
        let dir = test_support::TempDir::new("store-orphans");
        let path = dir.path().join("store.db");
        let (db, _) = open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        let bytes = encode(&StoredMessage {
            message: &message("x"),
            expires_at: None,
        });
        tx.open_table(MESSAGES)
            .unwrap()
            .insert(("nobody", 4, 1), bytes.as_slice())
            .unwrap();
        tx.commit().unwrap();
        drop(db);
        let (db, loaded) = open(&path).unwrap();
        assert!(loaded.sessions.is_empty());
        assert_eq!(loaded.max_epoch, 4, "its epoch is never given again");
        let rx = db.begin_read().unwrap();
        assert_eq!(rx.open_table(MESSAGES).unwrap().len().unwrap(), 0);
    }

    #[test]
    fn the_file_is_compacted_once_idle_after_many_writes() {
        let dir = test_support::TempDir::new("store-compact");
        let path = dir.path().join("store.db");
        let (db, _) = open(&path).unwrap();
        let resolve: Resolver = Box::new(|_| SessionWrite::Skip(Vec::new()));
        let store = Store::start_with(
            db,
            path.clone(),
            &Persistence::default(),
            0,
            resolve,
            (100, Duration::from_millis(100)),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let big = vec![7u8; 64 * 1024];
        for i in 0..200 {
            store.retained_set(&format!("t/{i}"), big.clone());
        }
        runtime.block_on(store.wait(store.submitted()));
        let full = std::fs::metadata(&path).unwrap().len();
        for i in 0..200 {
            store.retained_clear(&format!("t/{i}"));
        }
        runtime.block_on(store.wait(store.submitted()));
        // Idle now: within a few idle periods the writer compacts the file.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut size = full;
        while size * 2 > full {
            assert!(
                Instant::now() < deadline,
                "not compacted: {size} bytes of {full}"
            );
            std::thread::sleep(Duration::from_millis(20));
            size = std::fs::metadata(&path).unwrap().len();
        }
        store.close();
    }

    /// A retained record written before sources were stored (no `source` field) still reads,
    /// as a message of unknown source; a record with one reads it back.
    #[test]
    fn retained_records_without_a_source_still_read() {
        #[derive(Serialize)]
        struct Before {
            message: Message,
            expires_at: Option<u64>,
        }
        let message = Message::new(
            mqtt_codec::TopicName::new("a/b").unwrap(),
            "x",
            mqtt_codec::QoS::AtLeastOnce,
        );
        let old: RetainedRecord = decode(&encode(&Before {
            message: message.clone(),
            expires_at: Some(7),
        }))
        .unwrap();
        assert_eq!((old.expires_at, old.source), (Some(7), None));
        let source = crate::security::RetainSource::new("c", Some("u"), 1);
        let new: RetainedRecord = decode(&encode(&RetainedRecord {
            message,
            expires_at: None,
            source: Some(source.clone()),
        }))
        .unwrap();
        assert_eq!(new.source, Some(source));
    }
}
