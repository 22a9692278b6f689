//! The run journal: **no run left behind when a process dies.**
//!
//! A dropped [`RunHandle`](crate::api::runs::RunHandle) or `ask` future cancels its run, and
//! [`Client::shutdown`](crate::Client::shutdown) waits for those cancels — but a process
//! that is OOM-killed, SIGKILLed after its grace period, or loses its node cancels
//! nothing. With a journal ([`ClientBuilder::journal`](crate::ClientBuilder::journal)),
//! every run the client starts is written down *before* its create request is sent, the
//! live process keeps a lease on what it wrote, and whoever finds a lapsed lease — the
//! same program started again, or another replica — cancels those runs, exactly once.
//!
//! # What is recorded, and when it is completed
//!
//! [`Client::create_run`](crate::Client::create_run) — and so
//! [`Client::create_run_handle`](crate::Client::create_run_handle), [`Ask`](crate::ask::Ask)
//! (`.await`, `stream`, `start`) and a skill run, which all start their run through it —
//! writes an [`Entry`] before the request is sent: the session, the time (Unix ms, this
//! process's clock), the run's `request_id` when its metadata carries one, and no run id
//! yet: the entry says "a run **may exist**", so a crash between the send and the reply
//! is covered. The reply names the run (a second write). The entry is **completed**
//! (removed) when the client knows the run needs no cancel from it: the reply says no run
//! was made (an error before the server acted), the run is seen terminal (the create
//! reply, a [`RunHandle`](crate::api::runs::RunHandle)'s reads, [`Client::get_run`](crate::Client::get_run),
//! [`Client::cancel_run`](crate::Client::cancel_run)), it was cancelled (by a handle, a
//! background cancel), or the caller took it over ([`RunHandle::detach`](crate::api::runs::RunHandle::detach)).
//! A run created with [`Client::call`](crate::Client::call) or a hand-made service is not
//! journaled: those bypass `create_run`.
//!
//! No message content, token or secret is ever written: an entry holds ids and a time.
//!
//! # Leases, and the sweeper
//!
//! Each journal has an **owner** (one per [`RunJournal`] value: random, with the pid) and
//! one lease for all its entries, renewed by one timer task per client (every third of the
//! lease period; one write per renewal whatever the number of runs). An entry whose
//! owner's lease lapsed belongs to a dead process. The **sweeper** claims such entries —
//! atomically, so exactly one sweeper fleet-wide gets each — then, for each:
//!
//! * the run is known: it reads it; terminal → nothing to do; else it cancels it;
//! * the entry only says "may exist": it lists the session's runs created after the
//!   entry's time less [`CLOCK_SKEW`] (and carrying the entry's `request_id` when there
//!   was one) and cancels those not terminal (none found: the create never took effect);
//!
//! and then completes the entry. A failure (the API or the journal unreachable) leaves
//! the entry claimed by the sweeper's process, retried at the next sweep with a growing
//! backoff (from 500 ms, at most the sweep interval); if that process dies too, its lease
//! lapses and another sweeper takes the entry over. Sweeps run on the timer task, never
//! on a caller's path: no call waits for a sweep, and a journal that is down delays
//! nothing but the next sweep.
//!
//! The timer task starts with the client's first journaled `create_run`, or with
//! [`Client::start_journal`](crate::Client::start_journal) (call it at start-up: it sweeps
//! at once); it sweeps then and every [`JournalConfig::sweep_interval`] (default: the
//! lease period) and ends when the last clone of the client is dropped.
//! [`Client::sweep_journal`](crate::Client::sweep_journal) runs one sweep now and says
//! what it did ([`SweepReport`]).
//!
//! # Guarantees
//!
//! * **Written before sent.** A run this client creates through `create_run` has an
//!   entry before its request leaves. If the entry cannot be written (the directory is
//!   not writable, Redis is down or slower than its budget), **the call fails instead**:
//!   `create_run` returns an [`ErrorKind::Journal`](crate::ErrorKind) error, nothing is
//!   sent, and so no run exists that the journal does not know about.
//! * **Cancelled after a crash.** A run of a process that died is cancelled at most one
//!   lease period plus one sweep interval after the death (plus the cancel itself),
//!   provided a client on the same journal (the same directory, or the same Redis and
//!   namespace) is running or starts.
//! * **Exactly once.** Each lapsed entry is claimed by exactly one sweeper: a file is
//!   claimed by an atomic `rename` (only one succeeds), a Redis entry by a
//!   compare-and-swap script on the entry and its owner's lease key. The claimer sends
//!   at most one cancel per run it finds still going, and none for a run already
//!   terminal.
//!
//! # What is not guaranteed
//!
//! * A sweeper that dies after its cancel but before completing the entry leaves it to
//!   the next sweeper, which reads the run again: no second cancel if the run shows
//!   terminal, one more (harmless: cancelling a terminal run changes nothing) if the
//!   server still reports it running.
//! * A live process that cannot renew its lease for a whole lease period (paused, cut
//!   off from Redis) is taken for dead: its runs may be cancelled under it.
//! * A "may exist" entry in a session shared with other clients and without a
//!   `request_id` may match a run another client started in that session within the
//!   skew window; give the run a `request_id` (in its metadata, as
//!   [`Ask::request_id`](crate::ask::Ask::request_id) does) to rule that out.
//! * Runs created with [`Client::call`](crate::Client::call) or a service of your own.
//!
//! # The two journals
//!
//! * [`FileJournal`]: a single process, or several processes on one machine sharing a
//!   directory (the `aily` CLI). Each owner appends JSON lines to its own file and renews
//!   its lease by rewriting a small lease file (write a temporary file, then `rename`).
//!   Why not an embedded database: the journal's writes are appends of a few hundred
//!   bytes by a single writer, read back only after that writer died; an append-only
//!   file does that in one `write(2)` (no new crate, no compaction thread, no lock file),
//!   and `rename(2)` is the atomic claim an embedded database would have to emulate
//!   across processes. See the [`file`](mod@file) module for the format.
//! * `RedisJournal` (feature `redis`): a fleet. One hash per namespace holds the
//!   entries, one key with a `PX` expiry per owner is its lease; see the `redis` module.
//!
//! # Configuration
//!
//! | setting | default | CLI environment |
//! | --- | --- | --- |
//! | [`JournalConfig::lease`] | [`DEFAULT_LEASE`] (30 s) | `AILY_JOURNAL_LEASE_S` |
//! | [`JournalConfig::sweep_interval`] | the lease | — |
//! | the journal | none (no journal) | `AILY_JOURNAL_DIR` (a [`FileJournal`]), or `AILY_REDIS_URL` (Redis) |
//!
//! The `aily` CLI journals the runs of `aily ask` and `aily run create` (whose entry is
//! completed once the created run is printed: from then on it is the user's) and sweeps before
//! every command, for at most its sweep budget (2 s; what is left stays claimed by that
//! command's process and is taken over after it exits). `aily journal list` prints the
//! entries pending (id, owner, session, run, age, state) — never any content.
//!
//! # Observability
//!
//! Each sweep is a span `aily.journal.sweep` (INFO) with `aily.journal.claimed`,
//! `aily.journal.orphans`, `aily.journal.cancelled`, `aily.journal.already_terminal`,
//! `aily.journal.not_found` and `aily.journal.failed`. With feature `metrics`: the
//! counter [`SWEPT`] (`aily.client.journal.swept`, by `outcome`: `cancelled`,
//! `already_terminal`, `not_found`, `failed`) and [`ORPHANS`]
//! (`aily.client.journal.orphans`, entries claimed from dead processes). Garbage found
//! in a journal (a line or a value that does not parse, a field out of bounds) is
//! skipped with one WARN (per file, or per entry in Redis), never a panic.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use aily_client::journal::{FileJournal, JournalConfig};
//! use aily_client::{Client, Credentials};
//!
//! # fn main() -> Result<(), aily_client::Error> {
//! let dir = std::env::temp_dir().join(format!("aily-journal-doc-{}", std::process::id()));
//! let journal = FileJournal::open(&dir)?;
//! let client = Client::builder()
//!     .credentials(Credentials::tenant_token("t-x"))
//!     .journal(Arc::new(journal))
//!     .journal_config(JournalConfig::new().lease(Duration::from_secs(10)))
//!     .build()?;
//! // In a runtime, at start-up: `client.start_journal()` sweeps what a previous life of
//! // this program left, then renews the lease and sweeps every 10 s.
//! # let _ = client;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```

pub mod file;
#[cfg(feature = "redis")]
pub mod redis;
pub(crate) mod sweeper;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::fleet::store::{StoreError, StoreFuture};
pub use file::FileJournal;
#[cfg(feature = "redis")]
pub use redis::RedisJournal;
pub use sweeper::SweepReport;

/// The default lease period: an entry of a process silent this long is an orphan.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The shortest lease accepted (a shorter one is raised to it).
pub const MIN_LEASE: Duration = Duration::from_millis(200);
/// How far before an entry's time a run may have been created and still be the entry's
/// (the clocks of this process and of the server differ by less).
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);
/// The most entries one sweep claims and settles (the rest wait for the next sweep).
pub const MAX_PER_SWEEP: usize = 256;
/// The longest id, session id, run id or request id an entry may hold; longer ones
/// read from a journal are garbage.
pub const MAX_FIELD_LEN: usize = 256;

/// `aily.client.journal.swept`: orphans settled by a sweep, by `outcome`.
pub const SWEPT: &str = "aily.client.journal.swept";
/// `aily.client.journal.orphans`: entries claimed from processes whose lease lapsed.
pub const ORPHANS: &str = "aily.client.journal.orphans";

/// One run this client started, or may have: what a sweeper needs to find and cancel
/// it, and nothing else (no content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// The entry's id (32 hex digits, random).
    pub id: String,
    /// The session the run is in.
    pub session_id: String,
    /// When the create request was about to be sent (Unix ms, the writer's clock).
    pub at_ms: u64,
    /// The run, once the create reply named it; `None`: the run may exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The `request_id` of the run's metadata, when it has one (it tells the run apart
    /// when listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Entry {
    /// A new entry for a run about to be created in `session_id`, stamped now.
    pub fn new(session_id: impl Into<String>, request_id: Option<String>) -> Entry {
        Entry {
            id: new_id(),
            session_id: session_id.into(),
            at_ms: now_ms(),
            run_id: None,
            request_id,
        }
    }

    /// Whether every field is within bounds (a garbage entry read from a journal is not).
    pub fn is_sane(&self) -> bool {
        let ok =
            |s: &str| !s.is_empty() && s.len() <= MAX_FIELD_LEN && !s.chars().any(char::is_control);
        ok(&self.id)
            && ok(&self.session_id)
            && self.run_id.as_deref().is_none_or(ok)
            && self.request_id.as_deref().is_none_or(ok)
    }
}

/// What [`RunJournal::pending`] says of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryState {
    /// Its owner's lease is current: a live process owns the run.
    Live,
    /// Its owner's lease lapsed: the next sweep claims it.
    Lapsed,
    /// Claimed by a sweeper (its owner), which cancels it or retries.
    Claimed,
}

/// An entry as [`RunJournal::pending`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Pending {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Who holds it.
    pub owner: String,
    /// Live, lapsed or claimed.
    pub state: EntryState,
}

/// Where runs are written down: a small, object-safe, async trait, so
/// [`ClientBuilder::journal`](crate::ClientBuilder::journal) takes any implementation.
/// [`FileJournal`] and `RedisJournal` (feature `redis`) are this crate's.
///
/// Every method is bounded in time by the implementation; an error means "not done"
/// (the caller decides: `record` failing fails the call, the others are retried or
/// left to a sweep). Errors never hold content or secrets.
pub trait RunJournal: Send + Sync + fmt::Debug {
    /// This journal's owner id (entries it records are under its lease).
    fn owner(&self) -> &str;

    /// Writes `entry` (no run id yet: "may exist") under this owner; durable against
    /// this process dying once the future resolves.
    fn record<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()>;

    /// Writes the run id the create reply named (`entry.run_id` is set).
    fn name_run<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()>;

    /// Removes entry `id` (recorded by this owner, or claimed by it): nothing to cancel.
    fn complete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Renews this owner's lease for `lease` from now: one write for all its entries.
    fn renew(&self, lease: Duration) -> StoreFuture<'_, ()>;

    /// Claims at most `max` entries of owners whose lease lapsed, atomically (of all
    /// sweepers, exactly one gets each): they become this owner's, to settle. Returns
    /// how many were claimed.
    fn claim_lapsed(&self, max: usize) -> StoreFuture<'_, usize>;

    /// The entries this owner claimed and has not completed yet (at most `max`).
    fn claimed(&self, max: usize) -> StoreFuture<'_, Vec<Entry>>;

    /// Every entry pending (at most `max`), with its owner and state.
    fn pending(&self, max: usize) -> StoreFuture<'_, Vec<Pending>>;
}

/// How a client uses its journal.
///
/// ```
/// use std::time::Duration;
/// use aily_client::journal::JournalConfig;
/// let config = JournalConfig::new()
///     .lease(Duration::from_secs(10))
///     .sweep_interval(Duration::from_secs(5));
/// assert_eq!(config.lease_period(), Duration::from_secs(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    lease: Duration,
    sweep_interval: Option<Duration>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig::new()
    }
}

impl JournalConfig {
    /// The defaults: a lease of [`DEFAULT_LEASE`], a sweep every lease period.
    pub fn new() -> JournalConfig {
        JournalConfig {
            lease: DEFAULT_LEASE,
            sweep_interval: None,
        }
    }

    /// The lease period (at least [`MIN_LEASE`]): renewed every third of it; entries of
    /// a process silent this long are orphans.
    pub fn lease(mut self, lease: Duration) -> JournalConfig {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// How often the timer task sweeps (default: the lease period; at least [`MIN_LEASE`]).
    pub fn sweep_interval(mut self, interval: Duration) -> JournalConfig {
        self.sweep_interval = Some(interval.max(MIN_LEASE));
        self
    }

    /// The lease period.
    pub fn lease_period(&self) -> Duration {
        self.lease
    }

    /// The sweep interval.
    pub fn sweep_every(&self) -> Duration {
        self.sweep_interval.unwrap_or(self.lease)
    }

    /// How often the lease is renewed: a third of it.
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

/// A client's journal: the store, its configuration, and what this process knows of
/// its own live entries (to complete them when their run ends).
pub(crate) struct Journal {
    pub(crate) store: Arc<dyn RunJournal>,
    pub(crate) config: JournalConfig,
    live: Mutex<Live>,
    keeper: AtomicBool,
    /// Whether the lease was written once (before the first entry).
    renewed: AtomicBool,
    /// One sweep at a time in this process.
    pub(crate) sweeping: tokio::sync::Mutex<()>,
    /// Completions running in the background ([`Client::journal_flush`](crate::Client::journal_flush) awaits them).
    completing: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Live {
    /// Run id → entry id, for entries whose run is known.
    by_run: HashMap<String, String>,
    /// Session → entry ids whose run is not known yet.
    unnamed: HashMap<String, Vec<String>>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Journal {
    pub(crate) fn new(store: Arc<dyn RunJournal>, config: JournalConfig) -> Journal {
        Journal {
            store,
            config,
            live: Mutex::new(Live::default()),
            keeper: AtomicBool::new(false),
            renewed: AtomicBool::new(false),
            sweeping: tokio::sync::Mutex::new(()),
            completing: Mutex::new(Vec::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the timer task (lease renewals and sweeps) once, on the current runtime.
    pub(crate) fn ensure_keeper(&self, client: &crate::Client) {
        if self.keeper.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.keeper.swap(true, Ordering::AcqRel) {
            runtime.spawn(sweeper::keep(client.downgrade(), self.config));
        }
    }

    /// Renews the lease (one write for every entry of this owner).
    pub(crate) async fn renew(&self) -> Result<(), StoreError> {
        self.store.renew(self.config.lease).await?;
        self.renewed.store(true, Ordering::Release);
        Ok(())
    }

    /// Around one create-run call: the entry is written first (its failure fails the
    /// call, nothing sent), then the call, then the entry named or completed.
    pub(crate) async fn around_create(
        self: Arc<Self>,
        session_id: String,
        request_id: Option<String>,
        call: impl Future<
            Output = Result<
                crate::layers::api_call::Reply<crate::api::runs::RunResponse>,
                crate::Error,
            >,
        >,
    ) -> Result<crate::layers::api_call::Reply<crate::api::runs::RunResponse>, crate::Error> {
        let mut entry = Entry::new(session_id, request_id);
        // The lease exists before the first entry, so no sweeper takes a fresh entry
        // for a dead owner's.
        let leased = if self.renewed.load(Ordering::Acquire) {
            Ok(())
        } else {
            self.renew().await
        };
        let recorded = match leased {
            Ok(()) => self.store.record(&entry).await,
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            return Err(crate::Error::new(
                crate::ErrorKind::Journal,
                format!(
                    "the run journal could not record the run before creating it, so no run \
                     was created: {error}"
                ),
            ));
        }
        self.live()
            .unnamed
            .entry(entry.session_id.clone())
            .or_default()
            .push(entry.id.clone());
        let outcome = call.await;
        match &outcome {
            Ok(reply) if !reply.run.id.is_empty() => {
                self.forget_unnamed(&entry.session_id, &entry.id);
                if reply.run.status.is_terminal() {
                    self.complete_entry(&entry.id).await;
                } else {
                    entry.run_id = Some(reply.run.id.clone());
                    self.live()
                        .by_run
                        .insert(reply.run.id.clone(), entry.id.clone());
                    if let Err(error) = self.store.name_run(&entry).await {
                        // The entry still says "may exist": a sweep finds the run by listing.
                        tracing::warn!(
                            aily.session_id = %entry.session_id,
                            aily.run_id = %reply.run.id,
                            %error,
                            "the run journal could not record the run's id; a sweep would find it by listing"
                        );
                    }
                }
            }
            // The reply names no run: it may exist; the entry stays "may exist".
            Ok(_) => {}
            Err(error) if !error.may_have_acted() => {
                self.forget_unnamed(&entry.session_id, &entry.id);
                self.complete_entry(&entry.id).await;
            }
            // The run may exist: the entry stays, for the background cancel or a sweep.
            Err(_) => {}
        }
        outcome
    }

    fn forget_unnamed(&self, session_id: &str, id: &str) {
        let mut live = self.live();
        if let Some(ids) = live.unnamed.get_mut(session_id) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                live.unnamed.remove(session_id);
            }
        }
    }

    async fn complete_entry(&self, id: &str) {
        if let Err(error) = self.store.complete(id).await {
            tracing::debug!(%error, "the run journal could not complete an entry; a sweep will");
        }
    }

    /// The run needs no cancel from this process any more (seen terminal, cancelled,
    /// or taken over by the caller): its entry is completed, in the background.
    pub(crate) fn run_settled(self: &Arc<Self>, run_id: &str) {
        let Some(id) = self.live().by_run.remove(run_id) else {
            return;
        };
        self.complete_later(id);
    }

    /// The runs of `session_id` whose id was not known were found and cancelled.
    pub(crate) fn unnamed_settled(self: &Arc<Self>, session_id: &str) {
        let ids = self.live().unnamed.remove(session_id).unwrap_or_default();
        for id in ids {
            self.complete_later(id);
        }
    }

    fn complete_later(self: &Arc<Self>, id: String) {
        let journal = self.clone();
        // Without a runtime the entry stays, and the next sweep after this process ends
        // reads the run (terminal: completed without a cancel).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let task = runtime.spawn(async move { journal.complete_entry(&id).await });
            let mut completing = self.completing.lock().unwrap_or_else(|e| e.into_inner());
            completing.retain(|t| !t.is_finished());
            completing.push(task);
        }
    }
}

/// A fresh entry or owner id: 32 random hex digits.
pub(crate) fn new_id() -> String {
    let bytes = fastrand::u128(..).to_be_bytes();
    crate::fleet::store::hex(&bytes)
}

/// A fresh owner id: the pid and 16 random hex digits (the pid helps a human; the random
/// part keeps ids apart across pid reuse).
pub(crate) fn new_owner() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        crate::fleet::store::hex(&fastrand::u64(..).to_be_bytes())
    )
}

/// Now, in Unix ms.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether `owner` is a well-formed owner id (garbage otherwise).
pub(crate) fn sane_owner(owner: &str) -> bool {
    !owner.is_empty()
        && owner.len() <= 64
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `client.create_run(request)`: through the journal when the client has one.
pub(crate) fn around_create(
    client: &crate::Client,
    request: crate::api::runs::CreateRunRequest,
) -> impl Future<
    Output = Result<crate::layers::api_call::Reply<crate::api::runs::RunResponse>, crate::Error>,
> + Send
+ 'static {
    use futures_util::future::Either;
    let Some(journal) = client.journal().cloned() else {
        return Either::Left(client.create_run_unjournaled(request));
    };
    let session_id = request.id(0).to_owned();
    let request_id = request
        .body()
        .and_then(|body| crate::api::runs::metadata_request_id(body.metadata.as_deref()));
    let client = client.clone();
    Either::Right(async move {
        journal.ensure_keeper(&client);
        // Nothing is sent until this future is first polled: after the entry is written.
        let call = client.create_run_unjournaled(request);
        drop(client);
        journal.around_create(session_id, request_id, call).await
    })
}

/// A call whose reply may say its run needs no cancel any more (`settled`): the run's
/// entry is completed then.
pub(crate) fn settle_on_reply<F>(
    journal: Option<Arc<Journal>>,
    call: F,
    settled: fn(&crate::api::runs::Run) -> bool,
) -> impl Future<Output = F::Output> + Send + 'static
where
    F: Future<
            Output = Result<
                crate::layers::api_call::Reply<crate::api::runs::RunResponse>,
                crate::Error,
            >,
        > + Send
        + 'static,
{
    use futures_util::future::Either;
    let Some(journal) = journal else {
        return Either::Left(call);
    };
    Either::Right(async move {
        let reply = call.await;
        if let Ok(reply) = &reply
            && !reply.run.id.is_empty()
            && settled(&reply.run)
        {
            journal.run_settled(&reply.run.id);
        }
        reply
    })
}

impl crate::ClientBuilder {
    /// Records every run this client starts in `journal` before its create request is
    /// sent, keeps a lease on those entries while the client lives, and sweeps the
    /// entries of dead processes (see [`crate::journal`]). Default: no journal.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aily_client::journal::FileJournal;
    /// use aily_client::{Client, Credentials};
    /// let dir = std::env::temp_dir().join(format!("aily-builder-journal-{}", std::process::id()));
    /// let client = Client::builder()
    ///     .credentials(Credentials::tenant_token("t-x"))
    ///     .journal(Arc::new(FileJournal::open(&dir)?))
    ///     .build()?;
    /// # let _ = client;
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn journal(mut self, journal: Arc<dyn RunJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// The journal's lease period and sweep interval (default [`JournalConfig::new`]).
    pub fn journal_config(mut self, config: JournalConfig) -> Self {
        self.journal_config = config;
        self
    }
}

impl crate::Client {
    /// Starts the run journal's timer task on the current runtime (once): it sweeps at
    /// once what dead processes left, then renews this client's lease and sweeps
    /// periodically (see [`crate::journal`]). Call it at start-up; without it the task
    /// starts with the first `create_run`. Does nothing without a journal or outside a
    /// tokio runtime.
    pub fn start_journal(&self) {
        if let Some(journal) = self.journal() {
            journal.ensure_keeper(self);
        }
    }

    /// One sweep now: claims the entries whose lease lapsed and settles every entry
    /// this client's journal holds claimed. An error when the journal cannot be read
    /// (nothing settled; a later sweep retries); a client without a journal sweeps
    /// nothing.
    pub async fn sweep_journal(&self) -> Result<SweepReport, crate::Error> {
        match self.journal().cloned() {
            Some(journal) => sweeper::sweep(self, &journal).await,
            None => Ok(SweepReport::default()),
        }
    }

    /// Waits for the journal completions this client started in the background (an
    /// entry is completed in the background when its run is seen ending): call it
    /// before a short-lived process exits, so its journal holds no stale entry.
    pub async fn journal_flush(&self) {
        let Some(journal) = self.journal() else {
            return;
        };
        let tasks =
            std::mem::take(&mut *journal.completing.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// The entries pending in this client's journal (at most `max`), with their owner
    /// and state; empty without a journal.
    pub async fn journal_pending(&self, max: usize) -> Result<Vec<Pending>, crate::Error> {
        let Some(journal) = self.journal() else {
            return Ok(Vec::new());
        };
        journal.store.pending(max).await.map_err(|e| {
            crate::Error::new(
                crate::ErrorKind::Journal,
                format!("the run journal could not be read: {e}"),
            )
        })
    }
}
