//! Background cancels: the runs whose owner went away — a dropped
//! [`RunHandle`](crate::runs::RunHandle), a dropped `ask` future or stream — are
//! cancelled here, one cancel each through the client's normal stack (retried as
//! usual), each bounded by its own timeout.
//!
//! A drop never blocks and never spawns more than one task per client: it queues the
//! run (a bounded queue; past it the run is counted as rejected and logged), and one
//! worker task, started on the runtime the run was created on, runs at most
//! `concurrency` cancels at once and ends when the queue is empty.
//! [`Client::shutdown`](crate::Client::shutdown) waits for the queue to drain and the
//! worker to end, so a service that exits cleanly leaves no run behind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::Client;

/// Default: cancels of one client in flight at once.
pub const DEFAULT_CANCEL_CONCURRENCY: usize = 16;
/// Default: runs waiting to be cancelled, per client; past it a drop is rejected.
pub const DEFAULT_CANCEL_QUEUE: usize = 10_000;
/// Default: the bound on one background cancel, retries included.
pub const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

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
    run_id: String,
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
        client: &Client,
        runtime: Option<&Handle>,
        session_id: &str,
        run_id: &str,
    ) {
        let runtime = match runtime.cloned().or_else(|| Handle::try_current().ok()) {
            Some(runtime) => runtime,
            None => {
                self.reject(session_id, run_id, "no tokio runtime to cancel it on");
                return;
            }
        };
        let mut state = self.lock();
        if state.queue.len() >= self.max_queued {
            drop(state);
            self.reject(session_id, run_id, "the background cancel queue is full");
            return;
        }
        state.queue.push_back(Job {
            session_id: session_id.to_owned(),
            run_id: run_id.to_owned(),
        });
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.queued.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            aily.session_id = %session_id,
            aily.run_id = %run_id,
            "its owner went away: cancelling the run in the background"
        );
        if !state.worker_running {
            state.worker_running = true;
            state.worker = Some(runtime.spawn(work(client.clone(), self.clone())));
        }
    }

    fn reject(&self, session_id: &str, run_id: &str, why: &str) {
        #[cfg(feature = "metrics")]
        crate::metrics::background_cancel("rejected");
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

    /// Waits until every queued cancel is done and the worker has ended.
    pub(crate) async fn drain(&self) {
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        let worker = self.lock().worker.take();
        if let Some(worker) = worker {
            // The worker ends once the queue is empty; a panic in it is already logged.
            let _ = worker.await;
        }
    }

    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The worker: at most `concurrency` cancels at once, until the queue is empty.
async fn work(client: Client, cancels: Arc<BackgroundCancels>) {
    let mut running = JoinSet::new();
    loop {
        {
            let mut state = cancels.lock();
            while running.len() < cancels.concurrency {
                let Some(job) = state.queue.pop_front() else {
                    break;
                };
                running.spawn(cancel_one(client.clone(), cancels.clone(), job));
            }
            if running.is_empty() {
                state.worker_running = false;
                return;
            }
        }
        let _ = running.join_next().await;
    }
}

async fn cancel_one(client: Client, cancels: Arc<BackgroundCancels>, job: Job) {
    let call = client.cancel_run(&job.session_id, &job.run_id);
    match tokio::time::timeout(cancels.timeout, call).await {
        Ok(Ok(reply)) => {
            #[cfg(feature = "metrics")]
            crate::metrics::background_cancel("succeeded");
            cancels.succeeded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                aily.session_id = %job.session_id,
                aily.run_id = %job.run_id,
                status = %reply.run.status,
                "cancelled the run of an owner that went away"
            );
        }
        Ok(Err(error)) => {
            #[cfg(feature = "metrics")]
            crate::metrics::background_cancel("failed");
            cancels.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                aily.session_id = %job.session_id,
                aily.run_id = %job.run_id,
                %error,
                "could not cancel the run of an owner that went away"
            );
        }
        Err(_) => {
            #[cfg(feature = "metrics")]
            crate::metrics::background_cancel("timed_out");
            cancels.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                aily.session_id = %job.session_id,
                aily.run_id = %job.run_id,
                timeout_ms = cancels.timeout.as_millis() as u64,
                "the background cancel timed out"
            );
        }
    }
    cancels.done_one();
}
