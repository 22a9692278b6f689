//! Cancel and wait: [`cancel_and_wait`] cancels a run, then reads it until its
//! status is terminal, with a growing interval between reads and a deadline.
//!
//! The cancel reply may still say `IN_PROGRESS`: cancellation can be asynchronous.
//! `REQUIRES_MESSAGE` and statuses this version does not know are waited on, not
//! taken as final. A failed read is returned as it is: the stack below has already
//! retried what was worth retrying, so the wait loop never retries on its own.

use std::time::Duration;

use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::api::runs::{
    CancelRequest, CancelResponse, GetRunRequest, GetRunResponse, RunResponse, RunStatus,
};
use crate::error::Error;
use crate::layers::api_call::Reply;

/// How [`cancel_and_wait`] waits.
///
/// ```
/// use std::time::Duration;
/// let opts = aily_client::WaitOptions::new()
///     .timeout(Duration::from_secs(10))
///     .interval(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(opts.timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The whole wait, the cancel included, ends by then. Default 30 s.
    pub timeout: Duration,
    /// The first interval between reads; it doubles after each read. Default 250 ms.
    pub initial_interval: Duration,
    /// The largest interval between reads. Default 2 s.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(30),
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(2),
        }
    }
}

impl WaitOptions {
    /// The defaults: 30 s, reads 250 ms apart growing to 2 s.
    pub fn new() -> Self {
        WaitOptions::default()
    }

    /// The whole wait ends by `timeout` after it starts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads start `initial` apart, doubling up to `max`.
    pub fn interval(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max.max(initial);
        self
    }
}

/// Cancels run `run_id` of session `session_id` through `cancel`, then reads it through
/// `get` until its status is terminal, and returns the last reply.
///
/// At the deadline — not later — it fails with a [`Timeout`](crate::ErrorKind::Timeout)
/// error of kind [`TimeoutKind::Wait`](crate::TimeoutKind::Wait) that carries the last
/// run seen ([`Error::last_run`]). [`Client::cancel_and_wait`](crate::Client::cancel_and_wait)
/// calls it with the client's own services; call it yourself to wait through a stack
/// of your own: any service whose error converts into an [`Error`] will do — the
/// crate's own, and tower's `LoadShed`, `ConcurrencyLimit`, `Buffer` … over them,
/// whose `BoxError` converts ([`Error::from_box`]: a shed call is
/// [`ErrorKind::Overloaded`](crate::ErrorKind::Overloaded)).
///
/// ```
/// use aily_client::runs::cancel_and_wait;
/// use aily_client::{Client, Credentials, WaitOptions};
/// use tower::ServiceBuilder;
///
/// # async fn f(client: Client) -> Result<(), aily_client::Error> {
/// let cancel = ServiceBuilder::new().load_shed().concurrency_limit(8).service(client.cancel_service());
/// let get = ServiceBuilder::new().load_shed().concurrency_limit(8).service(client.get_run_service());
/// let done = cancel_and_wait(cancel, get, "session_1", "run_1", WaitOptions::new()).await?;
/// # let _ = done;
/// # Ok(()) }
/// ```
pub async fn cancel_and_wait<C, G>(
    cancel: C,
    mut get: G,
    session_id: impl AsRef<str>,
    run_id: impl AsRef<str>,
    options: WaitOptions,
) -> Result<Reply<RunResponse>, Error>
where
    C: Service<CancelRequest, Response = Reply<CancelResponse>>,
    C::Error: Into<Error>,
    G: Service<GetRunRequest, Response = Reply<GetRunResponse>>,
    G::Error: Into<Error>,
{
    let (session_id, run_id) = (session_id.as_ref(), run_id.as_ref());
    let read = GetRunRequest::new(session_id, run_id)?;
    let cancel_request = CancelRequest::new(session_id, run_id)?;
    let span = tracing::info_span!(
        target: "aily_client::runs::wait",
        "aily.run.cancel_and_wait",
        aily.session_id = %read.session_id(),
        aily.run_id = %read.run_id(),
        aily.reads = tracing::field::Empty,
    );
    let reads_on = span.clone();
    async move {
        let deadline = Instant::now() + options.timeout;
        let last = match tokio::time::timeout_at(deadline, cancel.oneshot(cancel_request)).await {
            Err(_) => return Err(Error::wait_timeout(options.timeout, None)),
            Ok(reply) => reply.map_err(Into::into)?,
        };
        read_until(
            &mut get,
            &read,
            last,
            deadline,
            &options,
            RunStatus::is_terminal,
            &reads_on,
        )
        .await
    }
    .instrument(span)
    .await
}

/// Reads the run through `get` — `interval` apart, doubling up to the maximum — until
/// `done(status)`, and returns that reply. At `deadline` (not later) it fails with a
/// [`TimeoutKind::Wait`](crate::TimeoutKind::Wait) error carrying the last run seen.
/// The number of reads is recorded as `aily.reads` on `span`, the caller's. A failed
/// read is returned as it is: the stack below already retried what was worth it.
pub(crate) async fn read_until<G>(
    get: &mut G,
    read: &GetRunRequest,
    mut last: Reply<RunResponse>,
    deadline: Instant,
    options: &WaitOptions,
    done: impl Fn(&RunStatus) -> bool,
    span: &tracing::Span,
) -> Result<Reply<RunResponse>, Error>
where
    G: Service<GetRunRequest, Response = Reply<GetRunResponse>>,
    G::Error: Into<Error>,
{
    let timed_out = |last: Reply<RunResponse>| {
        let log_id = last.log_id().map(str::to_owned);
        Error::wait_timeout(options.timeout, Some((last.into_data().run, log_id)))
    };
    let mut interval = options.initial_interval;
    let mut reads = 0u32;
    let result = loop {
        if done(&last.run.status) {
            break Ok(last);
        }
        let wake = Instant::now() + interval;
        if wake >= deadline {
            tokio::time::sleep_until(deadline).await;
            break Err(timed_out(last));
        }
        tokio::time::sleep_until(wake).await;
        reads += 1;
        let reply = tokio::time::timeout_at(deadline, async {
            get.ready().await?.call(read.clone()).await
        })
        .await;
        last = match reply {
            Err(_) => break Err(timed_out(last)),
            Ok(reply) => reply.map_err(Into::into)?,
        };
        tracing::debug!(target: "aily_client::runs::wait", status = %last.run.status, reads, "read the run");
        interval = (interval * 2).min(options.max_interval);
    };
    span.record("aily.reads", reads);
    result
}
