//! The sweeper: claims the entries of dead owners and settles them (finds the run,
//! cancels it unless it is terminal, completes the entry); and the timer task that
//! renews the lease and sweeps.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::{CLOCK_SKEW, Entry, Journal, JournalConfig, MAX_PER_SWEEP};
use crate::api::runs::ListRunsRequest;
use crate::client::{Client, WeakClient};
use crate::error::{Error, ErrorKind};

/// The first wait after a failed sweep; it doubles up to the sweep interval.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The most runs listed to find the run of a "may exist" entry.
const MAX_LISTED: usize = 1000;

/// What one sweep did ([`Client::sweep_journal`](crate::Client::sweep_journal)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Entries claimed from owners whose lease lapsed, in this sweep.
    pub claimed: usize,
    /// Claimed entries (of this sweep and earlier ones) this sweep tried to settle.
    pub orphans: usize,
    /// Runs cancelled.
    pub cancelled: usize,
    /// Entries whose run had already ended (completed, no cancel).
    pub already_terminal: usize,
    /// "May exist" entries whose run was not found (the create never took effect), or
    /// whose session is gone.
    pub not_found: usize,
    /// Entries that could not be settled now (kept, retried at the next sweep).
    pub failed: usize,
}

/// How one orphan was settled.
enum Settled {
    Cancelled(usize),
    AlreadyTerminal,
    NotFound,
}

/// One sweep: claim, then settle every claimed entry (at most [`MAX_PER_SWEEP`]).
/// An error: the journal could not be read (nothing settled).
pub(crate) async fn sweep(client: &Client, journal: &Arc<Journal>) -> Result<SweepReport, Error> {
    let span = tracing::info_span!(
        "aily.journal.sweep",
        aily.journal.claimed = tracing::field::Empty,
        aily.journal.orphans = tracing::field::Empty,
        aily.journal.cancelled = tracing::field::Empty,
        aily.journal.already_terminal = tracing::field::Empty,
        aily.journal.not_found = tracing::field::Empty,
        aily.journal.failed = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    let swept = sweep_in(client, journal).instrument(span.clone()).await;
    match &swept {
        Ok(report) => {
            span.record("aily.journal.claimed", report.claimed);
            span.record("aily.journal.orphans", report.orphans);
            span.record("aily.journal.cancelled", report.cancelled);
            span.record("aily.journal.already_terminal", report.already_terminal);
            span.record("aily.journal.not_found", report.not_found);
            span.record("aily.journal.failed", report.failed);
        }
        Err(_) => {
            span.record("error.type", "journal");
        }
    }
    swept
}

async fn sweep_in(client: &Client, journal: &Arc<Journal>) -> Result<SweepReport, Error> {
    let _one_at_a_time = journal.sweeping.lock().await;
    let unreadable = |e: super::StoreError| {
        Error::new(
            ErrorKind::Journal,
            format!("the run journal could not be swept: {e}"),
        )
    };
    // This owner's lease first: what it claims is covered by it at once, so no other
    // sweeper takes the claimed entries for a dead owner's.
    journal.renew().await.map_err(unreadable)?;
    let mut report = SweepReport {
        claimed: journal
            .store
            .claim_lapsed(MAX_PER_SWEEP)
            .await
            .map_err(unreadable)?,
        ..SweepReport::default()
    };
    let orphans = journal
        .store
        .claimed(MAX_PER_SWEEP)
        .await
        .map_err(unreadable)?;
    report.orphans = orphans.len();
    for entry in orphans {
        let outcome = match settle(client, &entry).await {
            Ok(settled) => match journal.store.complete(&entry.id).await {
                Ok(()) => Ok(settled),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let label = match outcome {
            Ok(Settled::Cancelled(n)) => {
                report.cancelled += n;
                tracing::info!(
                    aily.session_id = %entry.session_id,
                    aily.run_id = entry.run_id.as_deref().unwrap_or("(found by listing)"),
                    runs = n,
                    "cancelled the run of a process that died"
                );
                "cancelled"
            }
            Ok(Settled::AlreadyTerminal) => {
                report.already_terminal += 1;
                "already_terminal"
            }
            Ok(Settled::NotFound) => {
                report.not_found += 1;
                "not_found"
            }
            Err(error) => {
                report.failed += 1;
                tracing::warn!(
                    aily.session_id = %entry.session_id,
                    aily.run_id = entry.run_id.as_deref().unwrap_or("(unknown)"),
                    %error,
                    "could not settle an orphaned run; retried at the next sweep"
                );
                "failed"
            }
        };
        #[cfg(feature = "metrics")]
        metrics::counter!(super::SWEPT, crate::layers::observe::metrics::labels::OUTCOME => label)
            .increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = label;
    }
    Ok(report)
}

/// Whether `error` says the session or run does not exist (Feishu's 2700001).
fn gone(error: &Error) -> bool {
    error.is_invalid_param()
}

/// Finds the entry's run(s), cancels those still going.
async fn settle(client: &Client, entry: &Entry) -> Result<Settled, Error> {
    if let Some(run_id) = &entry.run_id {
        let run = match client.get_run(&entry.session_id, run_id).await {
            Ok(reply) => reply.into_data().run,
            Err(e) if gone(&e) => return Ok(Settled::NotFound),
            Err(e) => return Err(e),
        };
        if run.status.is_terminal() {
            return Ok(Settled::AlreadyTerminal);
        }
        client.cancel_run(&entry.session_id, run_id).await?;
        return Ok(Settled::Cancelled(1));
    }
    // "May exist": the runs of the session created after the entry's time (less the
    // skew), carrying its request id when it had one.
    let request = ListRunsRequest::new(&entry.session_id)?;
    let mut runs = std::pin::pin!(client.runs_stream(request));
    let since = entry.at_ms.saturating_sub(CLOCK_SKEW.as_millis() as u64);
    let mut found = 0usize;
    let mut going = Vec::new();
    let mut listed = 0usize;
    while let Some(run) = runs.next().await {
        let run = match run {
            Ok(run) => run,
            Err(e) if gone(&e) => return Ok(Settled::NotFound),
            Err(e) => return Err(e),
        };
        listed += 1;
        if listed > MAX_LISTED {
            break;
        }
        let after = run
            .created_at
            .as_ref()
            .and_then(|t| t.millis())
            .is_some_and(|ms| ms >= since);
        let ours = match &entry.request_id {
            Some(id) => {
                crate::api::runs::metadata_request_id(run.metadata.as_deref()).as_deref()
                    == Some(id.as_str())
            }
            None => after,
        };
        if !ours {
            continue;
        }
        found += 1;
        if !run.status.is_terminal() {
            going.push(run.id);
        }
    }
    if found == 0 {
        return Ok(Settled::NotFound);
    }
    if going.is_empty() {
        return Ok(Settled::AlreadyTerminal);
    }
    for run_id in &going {
        client.cancel_run(&entry.session_id, run_id).await?;
    }
    Ok(Settled::Cancelled(going.len()))
}

/// The timer task of a client's journal: renews the lease every third of it, sweeps at
/// once and then every sweep interval (after a failure: from 500 ms, doubling, at most
/// the interval), in a task of its own so a slow sweep never delays a renewal. Ends
/// when the last clone of the client is dropped.
pub(crate) async fn keep(client: WeakClient, config: JournalConfig) {
    let mut next_sweep = Instant::now();
    let mut failures = 0u32;
    let mut renew_failing = false;
    let mut sweeping: Option<tokio::task::JoinHandle<bool>> = None;
    let mut next_renew = Instant::now();
    loop {
        let Some(strong) = client.upgrade() else {
            return;
        };
        let Some(journal) = strong.journal().cloned() else {
            return;
        };
        let renewed = if Instant::now() >= next_renew {
            next_renew = Instant::now() + config.renew_every();
            journal.renew().await
        } else {
            Ok(())
        };
        match renewed {
            Ok(()) if renew_failing => {
                renew_failing = false;
                tracing::info!("the run journal's lease is renewed again");
            }
            Ok(()) => {}
            Err(error) if !renew_failing => {
                renew_failing = true;
                tracing::warn!(
                    %error,
                    "the run journal's lease could not be renewed; retrying (past the lease, this process's runs count as orphans)"
                );
            }
            Err(_) => {}
        }
        if let Some(task) = &sweeping
            && task.is_finished()
        {
            let ok = sweeping
                .take()
                .and_then(futures_util::FutureExt::now_or_never)
                .is_some_and(|joined| joined.unwrap_or(false));
            if ok {
                failures = 0;
                next_sweep = Instant::now() + config.sweep_every();
            } else {
                failures = failures.saturating_add(1);
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << failures.min(16).saturating_sub(1))
                    .min(config.sweep_every());
                // Full jitter over the upper half, so a fleet does not retry in step.
                let backoff = backoff / 2 + backoff.mul_f64(fastrand::f64() / 2.0);
                next_sweep = Instant::now() + backoff;
            }
        }
        if sweeping.is_none() && Instant::now() >= next_sweep {
            let (client, journal) = (strong.clone(), journal.clone());
            sweeping = Some(tokio::spawn(async move {
                sweep(&client, &journal)
                    .await
                    .is_ok_and(|report| report.failed == 0)
            }));
            // Looked at again at the next tick.
            next_sweep = Instant::now() + config.sweep_every();
        }
        drop((strong, journal));
        let wake = match &sweeping {
            Some(_) => next_renew.min(Instant::now() + FIRST_BACKOFF / 5),
            None => next_renew.min(next_sweep),
        };
        tokio::time::sleep_until(wake).await;
    }
}
