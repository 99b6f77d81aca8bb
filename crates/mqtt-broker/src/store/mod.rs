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
//! On-disk format: table `meta` holds `format` = [`FORMAT_VERSION`]; `retained` maps a topic to
//! a CBOR `RetainedRecord`; `sessions` maps a client identifier to a CBOR `SessionRecord`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard};
use std::time::{Duration, Instant};

use mqtt_codec::{ProtocolVersion, SubscriptionOptions};
use mqtt_session::{Message, MessageId, SessionState};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info};

use crate::client::ClientRef;
use crate::config::{Persistence, PersistenceSync};

/// The layout version of the file. Bumped whenever a table or record changes; a file with
/// another version is refused with a clear error, never read as something it is not.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

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
    pub(crate) sessions: Vec<(String, SessionRecord)>,
}

/// What a changed session becomes in the store, decided when its change is written.
pub(crate) enum SessionWrite {
    /// Its current record.
    Put(Vec<u8>),
    /// It ended, or is not persistent: no record.
    Delete,
    /// A newer session of the same client identifier replaced it; that one writes itself.
    Skip,
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
        }
        tx.commit().map_err(|e| open_err(e.to_string()))?;
    }
    let mut loaded = Loaded::default();
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
    for entry in sessions.iter().map_err(|e| open_err(e.to_string()))? {
        let (k, v) = entry.map_err(|e| open_err(e.to_string()))?;
        let record: SessionRecord =
            decode(v.value()).map_err(|e| record_err("session", k.value(), e))?;
        loaded.sessions.push((k.value().to_string(), record));
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
    count(RETAINED) + count(SESSIONS) > 0
}

/// One pending change.
enum Op {
    /// A retained message set (`Some`, its encoded [`RetainedRecord`]) or cleared.
    Retained(String, Option<Vec<u8>>),
    /// A session changed: written as it is when the operation is processed.
    Session(ClientRef),
}

/// The table a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Retained,
    Sessions,
}

/// One write of a transaction: a retained message or a session record, put (`Some`) or
/// deleted (`None`).
type Record = ((Table, String), Option<Vec<u8>>);

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
        resolve: Resolver,
    ) -> Store {
        let compaction = (COMPACT_AFTER_RECORDS, COMPACT_WHEN_IDLE);
        Self::start_with(db, path, persistence, resolve, compaction)
    }

    fn start_with(
        db: Database,
        path: PathBuf,
        persistence: &Persistence,
        resolve: Resolver,
        compaction: (u64, Duration),
    ) -> Store {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            gate: ShardedLock::new(()),
            failing: AtomicBool::new(false),
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
        let mut dirty: BTreeMap<(Table, String), Option<Vec<u8>>> = BTreeMap::new();
        let mut failing = false;
        // Periodic mode: what was committed without fsync since the last durable commit, which
        // a failure may roll back (the file is reopened), so it is rewritten with the rest.
        let mut since_durable: BTreeMap<(Table, String), Option<Vec<u8>>> = BTreeMap::new();
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
                                "Error: persistence file {} still refuses writes at shutdown:                                  {} changes are lost ({e}).",
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
                Op::Retained(topic, bytes) => records.push(((Table::Retained, topic), bytes)),
                Op::Session(client) => {
                    if !seen.insert(Arc::as_ptr(&client.0)) {
                        continue;
                    }
                    let key = (Table::Sessions, client.id().to_string());
                    match (self.resolve)(&client) {
                        SessionWrite::Put(bytes) => records.push((key, Some(bytes))),
                        SessionWrite::Delete => records.push((key, None)),
                        SessionWrite::Skip => {}
                    }
                }
            }
        }
        records
    }

    fn commit<'a>(
        &self,
        records: impl Iterator<Item = (&'a (Table, String), &'a Option<Vec<u8>>)>,
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
        records: impl Iterator<Item = (&'a (Table, String), &'a Option<Vec<u8>>)>,
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
            for ((table, key), value) in records {
                let table = match table {
                    Table::Retained => &mut retained,
                    Table::Sessions => &mut sessions,
                };
                match value {
                    Some(bytes) => {
                        table.insert(key.as_str(), bytes.as_slice())?;
                    }
                    None => {
                        table.remove(key.as_str())?;
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

    #[test]
    fn the_file_is_compacted_once_idle_after_many_writes() {
        let dir = test_support::TempDir::new("store-compact");
        let path = dir.path().join("store.db");
        let (db, _) = open(&path).unwrap();
        let resolve: Resolver = Box::new(|_| SessionWrite::Skip);
        let store = Store::start_with(
            db,
            path.clone(),
            &Persistence::default(),
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
