//! [`RunHandle`]: a run this process started, which it cancels if it lets go of it
//! before the run ends.

use std::fmt;

use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::api::runs::wait::read_until;
use crate::api::runs::{GetRunRequest, Run, RunResponse, RunStatus, WaitOptions};
use crate::client::Client;
use crate::error::Error;
use crate::layers::api_call::Reply;

/// A run this process started ([`Client::create_run_handle`](crate::Client::create_run_handle),
/// [`Ask::start`](crate::ask::Ask::start)): its IDs, the run as last seen,
/// [`wait`](RunHandle::wait), [`cancel`](RunHandle::cancel) and
/// [`detach`](RunHandle::detach).
///
/// The run it reads and cancels is the one it was created for, whatever later
/// replies say: a read whose reply names another run is a [`Decode`](crate::ErrorKind::Decode)
/// error (and that run is not recorded), and a reply without an ID is taken as
/// this run's.
///
/// **Dropped while its run is not terminal, it cancels the run in the background**:
/// one cancel through the client's stack (retried as usual, bounded by its own
/// timeout), on the runtime the handle was made on, never blocking the drop, logged
/// with the run's IDs. [`detach`](RunHandle::detach) opts out;
/// [`Client::shutdown`](crate::Client::shutdown) waits for those cancels.
///
/// ```no_run
/// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
/// use aily_client::runs::CreateRunRequest;
/// let mut handle = client
///     .create_run_handle(CreateRunRequest::new("session_1", "spring_xxx__c")?)
///     .await?;
/// let run = handle.wait(aily_client::WaitOptions::new()).await?;
/// println!("{} is {}", run.id, run.status);
/// // Dropped here: the run is terminal (or REQUIRES_MESSAGE), so nothing is cancelled
/// // unless it was still running.
/// # Ok(()) }
/// ```
#[must_use = "dropping a RunHandle cancels its run; keep it, wait on it, or detach() it"]
pub struct RunHandle {
    client: Client,
    session_id: String,
    /// The run this handle was made for: the one read and cancelled.
    run_id: String,
    run: Run,
    runtime: Option<Handle>,
    armed: bool,
}

impl fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunHandle")
            .field("session_id", &self.session_id)
            .field("run_id", &self.run_id)
            .field("status", &self.run.status)
            .field("cancel_on_drop", &self.armed)
            .finish()
    }
}

impl RunHandle {
    /// A handle on `run` of session `session_id`, cancelled on drop until it ends;
    /// an error (a [`Decode`](crate::ErrorKind::Decode) one, saying the server may
    /// have acted) when the create reply names no run.
    pub(crate) fn new(client: Client, session_id: String, run: Run) -> Result<RunHandle, Error> {
        if run.id.is_empty() {
            let mut error = Error::new(
                crate::ErrorKind::Decode,
                "the create-run reply names no run: the run may exist; list the session's runs",
            );
            error.set_may_have_acted();
            return Err(error);
        }
        Ok(RunHandle {
            client,
            session_id,
            run_id: run.id.clone(),
            run,
            runtime: Handle::try_current().ok(),
            armed: true,
        })
    }

    /// The session's ID.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The run's ID.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run as last seen.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Reads the run (spaced as `options` says) until it is terminal or
    /// `REQUIRES_MESSAGE` (it waits for a new message), for at most
    /// `options.timeout`; then fails with a [`Wait`](crate::TimeoutKind::Wait) timeout
    /// carrying the last run. The handle stays armed: dropped after a timeout, it
    /// cancels the run.
    pub async fn wait(&mut self, options: WaitOptions) -> Result<&Run, Error> {
        self.wait_until(Instant::now() + options.timeout, &options)
            .await
    }

    /// [`wait`](RunHandle::wait) with a deadline of the caller's.
    pub(crate) async fn wait_until(
        &mut self,
        deadline: Instant,
        options: &WaitOptions,
    ) -> Result<&Run, Error> {
        let read = GetRunRequest::new(&self.session_id, &self.run_id)?;
        // The run as last seen, from an earlier reply (whose log id is not kept).
        let last = Reply::new(
            RunResponse {
                run: self.run.clone(),
            },
            http::StatusCode::OK,
        );
        let mut get = self.client.get_run_service();
        let done = |s: &RunStatus| s.is_terminal() || *s == RunStatus::RequiresMessage;
        // No span of its own declares `aily.reads` here: the count goes nowhere.
        let no_span = tracing::Span::none();
        match read_until(&mut get, &read, last, deadline, options, done, &no_span).await {
            Ok(reply) => {
                self.set_run(reply.into_data().run)?;
                Ok(&self.run)
            }
            Err(error) => {
                if let Some(run) = error.last_run() {
                    self.set_run(run.clone())?;
                }
                Err(error)
            }
        }
    }

    /// Records the run as seen now (a terminal run is not cancelled on drop). A run
    /// with another ID is refused (a [`Decode`](crate::ErrorKind::Decode) error) and
    /// not recorded; one without an ID is taken as this one.
    pub(crate) fn set_run(&mut self, mut run: Run) -> Result<(), Error> {
        if run.id.is_empty() {
            run.id = self.run_id.clone();
        }
        if run.id != self.run_id {
            return Err(Error::new(
                crate::ErrorKind::Decode,
                format!(
                    "the server's reply names another run ({:?}) than the one read ({:?})",
                    crate::ask::clip(&run.id),
                    self.run_id
                ),
            ));
        }
        if run.status.is_terminal() {
            self.client.journal_run_settled(&self.run_id);
        }
        self.run = run;
        Ok(())
    }

    /// Cancels the run now and returns the reply (the run may still say
    /// `IN_PROGRESS`: cancellation can be asynchronous).
    pub async fn cancel(mut self) -> Result<Reply<RunResponse>, Error> {
        let reply = self.client.cancel_run(&self.session_id, &self.run_id).await;
        // Whatever the reply, this handle's cancel was made: no second one on drop.
        self.armed = false;
        reply
    }

    /// Not cancelled on drop any more (the caller has what it needed of the run).
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// Lets go of the run without cancelling it, and returns it as last seen.
    pub fn detach(mut self) -> Run {
        self.armed = false;
        // Taken over by the caller: not cancelled after a crash either.
        self.client.journal_run_settled(&self.run_id);
        std::mem::take(&mut self.run)
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if self.armed && !self.run.status.is_terminal() {
            self.client.cancel_in_background(
                self.runtime.as_ref(),
                &self.session_id,
                crate::background::Target::Run(self.run_id.clone()),
            );
        }
    }
}
