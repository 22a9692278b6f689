//! Background cancels: the runs whose owner went away — a dropped
//! [`RunHandle`](crate::api::runs::RunHandle), a dropped `ask` future or stream — are
//! cancelled here, one cancel each through the client's normal stack (retried as
//! usual), each bounded by its own timeout.
//!
//! A drop never blocks and never spawns more than one task per client: it queues the
//! run (a bounded queue; past it the run is counted as rejected and logged), and one
//! worker task, started on the runtime the run was created on, runs at most
//! `concurrency` cancels at once and ends when the queue is empty.
//! [`Client::shutdown`](crate::Client::shutdown) waits for the queue to drain and the
//! worker to end, so a service that exits cleanly leaves no run behind — for at most
//! [`DEFAULT_SHUTDOWN_TIMEOUT`] ([`Client::shutdown_within`](crate::Client::shutdown_within)
//! takes another bound).
//!
//! Nothing wedges it: a cancel task that panics counts as failed (and is logged); a
//! cancel whose runtime was dropped before it ran (or while it ran) is queued again
//! and run on the runtime `shutdown` is awaited on.
//!
//! A run whose ID is not known — an `ask` whose create-run reply was lost, or whose
//! caller went away while it was being created — is found by listing its session's
//! runs (by the request id in their metadata when the `ask` had one, else every run
//! still going in the session the `ask` opened itself), then cancelled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use tower::ServiceExt;

use crate::api::runs::{CancelRequest, ListRunsRequest};
use crate::layers::api_call::AilyService;

/// What a background cancel calls: the client's cancel and list-runs services (its
/// default stack, so cancels are retried and observed like any call). Background
/// cancels hold these, not the client.
#[derive(Clone)]
pub(crate) struct RunCalls {
    pub(crate) cancel: AilyService<CancelRequest>,
    pub(crate) list_runs: AilyService<ListRunsRequest>,
    /// Told the session of a run found by listing and cancelled (the run journal
    /// completes the entries that only said "may exist" there).
    pub(crate) unnamed_settled: Option<SessionHook>,
}

/// A callback with a session id.
pub(crate) type SessionHook = Arc<dyn Fn(&str) + Send + Sync>;

impl RunCalls {
    async fn cancel_run(&self, session_id: &str, run_id: &str) -> Result<crate::Run, crate::Error> {
        let request = CancelRequest::new(session_id, run_id)?;
        let reply = self.cancel.clone().oneshot(request).await?;
        Ok(reply.into_data().run)
    }
}

/// Default: cancels of one client in flight at once.
pub const DEFAULT_CANCEL_CONCURRENCY: usize = 16;
/// Default: runs waiting to be cancelled, per client; past it a drop is rejected.
pub const DEFAULT_CANCEL_QUEUE: usize = 10_000;
/// Default: the bound on one background cancel, retries included.
pub const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default: the bound on [`Client::shutdown`](crate::Client::shutdown) — one cancel
/// timeout and a little more; past it the cancels still pending are logged and left.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a cancel is queued again after its runtime went away under it.
const MAX_REQUEUES: u8 = 3;
/// How often `shutdown` looks for a queue whose worker died with its runtime.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// What the background cancels of a client have done so far
/// ([`Client::background_cancels`](crate::Client::background_cancels)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackgroundCancelStats {
    /// Runs queued for a cancel.
    pub queued: u64,
    /// Cancels that succeeded.
    pub succeeded: u64,
    /// Cancels that failed or timed out (logged at WARN with the run's ids).
    pub failed: u64,
    /// Runs not queued because the queue was full (logged at ERROR with the ids).
    pub rejected: u64,
    /// Runs queued or being cancelled now.
    pub pending: usize,
}

struct Job {
    session_id: String,
    run: Target,
    requeued: u8,
}

/// Which run of the session a job cancels.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// That run.
    Run(String),
    /// The runs still going whose metadata carries this `request_id`, or, with
    /// `None`, every run still going in the session (one an `ask` opened itself).
    Find(Option<String>),
}

impl Target {
    fn describe(&self) -> &str {
        match self {
            Target::Run(id) => id,
            Target::Find(_) => "(unknown: found by listing)",
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    worker: Option<JoinHandle<()>>,
    worker_running: bool,
}

/// The background cancels of one client and its clones.
pub(crate) struct BackgroundCancels {
    state: Mutex<State>,
    concurrency: usize,
    max_queued: usize,
    timeout: Duration,
    pending: AtomicUsize,
    idle: Notify,
    queued: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for BackgroundCancels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundCancels")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BackgroundCancels {
    pub(crate) fn new(concurrency: usize, max_queued: usize, timeout: Duration) -> Self {
        BackgroundCancels {
            state: Mutex::new(State::default()),
            concurrency: concurrency.max(1),
            max_queued: max_queued.max(1),
            timeout,
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            queued: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue consistent (push/pop only).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a cancel of the run; never blocks. `runtime` is where the worker runs
    /// when none is running yet.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        calls: impl FnOnce() -> RunCalls,
        runtime: Option<&Handle>,
        session_id: &str,
        run: Target,
    ) {
        let run_id = run.describe().to_owned();
        let run_id = run_id.as_str();
        // The handle's runtime when it still runs, else the caller's.
        let runtime = runtime.cloned().or_else(|| Handle::try_current().ok());
        let Some(runtime) = runtime else {
            self.reject(session_id, run_id, "no tokio runtime to cancel it on");
            return;
        };
        let mut state = self.lock();
        if state.queue.len() >= self.max_queued {
            drop(state);
            self.reject(session_id, run_id, "the background cancel queue is full");
            return;
        }
        state.queue.push_back(Job {
            session_id: session_id.to_owned(),
            run,
            requeued: 0,
        });
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.queued.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            aily.session_id = %session_id,
            aily.run_id = %run_id,
            "its owner went away: cancelling the run in the background"
        );
        if !state.worker_running || worker_died(&state) {
            state.worker_running = true;
            state.worker = Some(runtime.spawn(work(calls(), self.clone())));
        }
    }

    fn reject(&self, session_id: &str, run_id: &str, why: &str) {
        crate::layers::observe::record::background_cancel("rejected");
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            aily.session_id = %session_id,
            aily.run_id = %run_id,
            "the run is left running: {why}"
        );
    }

    pub(crate) fn stats(&self) -> BackgroundCancelStats {
        BackgroundCancelStats {
            queued: self.queued.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::SeqCst),
        }
    }

    /// Waits until every queued cancel is done and the worker has ended, for at most
    /// `bound`; `false` when the bound passed first (what is left is logged).
    pub(crate) async fn drain(
        self: &Arc<Self>,
        calls: impl Fn() -> RunCalls,
        bound: Duration,
    ) -> bool {
        let drained = tokio::time::timeout(bound, async {
            loop {
                let idle = self.idle.notified();
                if self.pending.load(Ordering::SeqCst) == 0 {
                    break;
                }
                self.revive(&calls);
                // Woken when the last cancel is done; polled too, for a worker that
                // died with its runtime (nothing wakes this then).
                let _ = tokio::time::timeout(DRAIN_POLL, idle).await;
            }
            let worker = self.lock().worker.take();
            if let Some(worker) = worker {
                // The worker ends once the queue is empty; a panic in it is logged.
                let _ = worker.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                pending = self.pending.load(Ordering::SeqCst),
                bound_ms = bound.as_millis() as u64,
                "shutdown: background cancels still pending at the bound; leaving them"
            );
        }
        drained.is_ok()
    }

    /// Starts a worker on the current runtime when runs are queued and the worker
    /// that should take them is gone (its runtime dropped, or it panicked).
    fn revive(self: &Arc<Self>, calls: &impl Fn() -> RunCalls) {
        let mut state = self.lock();
        if !state.queue.is_empty() && (!state.worker_running || worker_died(&state)) {
            state.worker_running = true;
            state.worker = Some(tokio::spawn(work(calls(), self.clone())));
        }
    }

    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// Whether the worker recorded as running has ended without saying so: its runtime
/// was dropped before it first ran (a task never polled cannot clear the flag).
fn worker_died(state: &State) -> bool {
    state.worker.as_ref().is_some_and(JoinHandle::is_finished)
}

/// Marks the worker gone however it ends (returning, or dropped with its runtime),
/// so the next enqueue or `shutdown` starts another.
struct WorkerGuard(Arc<BackgroundCancels>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.lock().worker_running = false;
    }
}

/// The worker: at most `concurrency` cancels at once, until the queue is empty.
async fn work(calls: RunCalls, cancels: Arc<BackgroundCancels>) {
    let _alive = WorkerGuard(cancels.clone());
    let mut running = JoinSet::new();
    loop {
        {
            let mut state = cancels.lock();
            while running.len() < cancels.concurrency {
                let Some(job) = state.queue.pop_front() else {
                    break;
                };
                running.spawn(cancel_one(calls.clone(), cancels.clone(), job));
            }
            if running.is_empty() {
                state.worker_running = false;
                return;
            }
        }
        // A cancel that panicked is counted and logged by its JobGuard.
        let _ = running.join_next().await;
    }
}

/// Settles a job however its task ends: done (counted by `cancel_one`), panicked
/// (counted failed, logged), or dropped with its runtime (queued again, a few times).
struct JobGuard {
    cancels: Arc<BackgroundCancels>,
    job: Option<Job>,
}

impl JobGuard {
    fn done(&mut self) {
        if self.job.take().is_some() {
            self.cancels.done_one();
        }
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let Some(mut job) = self.job.take() else {
            return;
        };
        if !std::thread::panicking() && job.requeued < MAX_REQUEUES {
            // Its runtime went away: the next worker (or `shutdown`) takes it.
            job.requeued += 1;
            self.cancels.lock().queue.push_front(job);
            return;
        }
        crate::layers::observe::record::background_cancel("failed");
        self.cancels.failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            aily.session_id = %job.session_id,
            aily.run_id = %job.run.describe(),
            "the background cancel's task panicked or was dropped: the run may be left running"
        );
        self.cancels.done_one();
    }
}

async fn cancel_one(calls: RunCalls, cancels: Arc<BackgroundCancels>, job: Job) {
    let (session_id, target) = (job.session_id.clone(), job.run.clone());
    let mut guard = JobGuard {
        cancels: cancels.clone(),
        job: Some(job),
    };
    let call = cancel_target(&calls, &session_id, &target);
    let outcome = tokio::time::timeout(cancels.timeout, call).await;
    let run_id = target.describe();
    match outcome {
        Ok(Ok(cancelled)) => {
            if let (Target::Find(_), Some(settled)) = (&target, &calls.unnamed_settled) {
                settled(&session_id);
            }
            crate::layers::observe::record::background_cancel("succeeded");
            cancels.succeeded.fetch_add(1, Ordering::Relaxed);
            guard.done();
            tracing::info!(
                aily.session_id = %session_id,
                aily.run_id = %run_id,
                cancelled = ?cancelled,
                "cancelled the run of an owner that went away"
            );
        }
        Ok(Err(error)) => {
            crate::layers::observe::record::background_cancel("failed");
            cancels.failed.fetch_add(1, Ordering::Relaxed);
            guard.done();
            tracing::warn!(
                aily.session_id = %session_id,
                aily.run_id = %run_id,
                %error,
                "could not cancel the run of an owner that went away"
            );
        }
        Err(_) => {
            crate::layers::observe::record::background_cancel("timed_out");
            cancels.failed.fetch_add(1, Ordering::Relaxed);
            guard.done();
            tracing::warn!(
                aily.session_id = %session_id,
                aily.run_id = %run_id,
                timeout_ms = cancels.timeout.as_millis() as u64,
                "the background cancel timed out"
            );
        }
    }
}

/// How many times the runs of a session are listed to find a run whose ID is not
/// known (it may be created just after its owner went away), and how far apart.
const FIND_TRIES: u32 = 3;
const FIND_SPACING: Duration = Duration::from_millis(300);

/// Cancels the target; returns `(run id, status after the cancel)` of each run
/// cancelled.
async fn cancel_target(
    calls: &RunCalls,
    session_id: &str,
    target: &Target,
) -> Result<Vec<(String, String)>, crate::Error> {
    let request_id = match target {
        Target::Run(run_id) => {
            let run = calls.cancel_run(session_id, run_id).await?;
            return Ok(vec![(run_id.clone(), run.status.to_string())]);
        }
        Target::Find(request_id) => request_id.as_deref(),
    };
    for attempt in 0..FIND_TRIES {
        if attempt > 0 {
            tokio::time::sleep(FIND_SPACING).await;
        }
        let found = find_runs(calls, session_id, request_id).await?;
        if found.is_empty() {
            continue;
        }
        let mut cancelled = Vec::with_capacity(found.len());
        for run_id in found {
            let run = calls.cancel_run(session_id, &run_id).await?;
            cancelled.push((run_id, run.status.to_string()));
        }
        return Ok(cancelled);
    }
    Err(crate::Error::new(
        crate::ErrorKind::Other,
        "no run of the owner that went away was found in its session",
    ))
}

/// The runs of the session still going, and (with `request_id`) carrying it in
/// their metadata. Bounded: the listing stops at [`crate::api::paginate::MAX_PAGES`], and
/// at most [`MAX_FOUND`] runs are kept.
async fn find_runs(
    calls: &RunCalls,
    session_id: &str,
    request_id: Option<&str>,
) -> Result<Vec<String>, crate::Error> {
    use futures_util::StreamExt;
    let request = ListRunsRequest::new(session_id)?;
    let mut runs = std::pin::pin!(crate::api::paginate::pages(
        calls.list_runs.clone(),
        request
    ));
    let mut found = Vec::new();
    while let Some(run) = runs.next().await {
        let run = run?;
        let ours = match request_id {
            Some(id) => {
                crate::api::runs::metadata_request_id(run.metadata.as_deref()).as_deref()
                    == Some(id)
            }
            None => true,
        };
        if ours && !run.status.is_terminal() && found.len() < MAX_FOUND {
            found.push(run.id);
        }
    }
    Ok(found)
}

/// The most runs one "find and cancel" cancels (an `ask` starts one).
const MAX_FOUND: usize = 16;
