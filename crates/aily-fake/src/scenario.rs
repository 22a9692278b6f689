//! Setting up and inspecting the conversation state from a test: sessions,
//! runs and their schedule, messages, pagination and the "accept any id"
//! mode.

use std::time::Duration;

use tokio::time::Instant;

use super::FakeAily;
use super::runs::{RunRecord, Schedule};
use serde_json::Value;

impl FakeAily {
    /// Adds an empty session `session_id` (nothing changes if it exists).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// assert!(!fake.has_session("session_1"));
    /// fake.add_session("session_1");
    /// assert!(fake.has_session("session_1"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_session(&self, session_id: &str) {
        self.shared.lock().conv.ensure_session(session_id);
    }

    /// Whether session `session_id` exists (created, added, or not deleted).
    pub fn has_session(&self, session_id: &str) -> bool {
        self.shared.lock().conv.sessions.contains_key(session_id)
    }

    /// Adds (or replaces) run `run_id` in session `session_id` (created if
    /// missing), status `IN_PROGRESS`. Runs added this way keep their status
    /// until a cancel, [`FakeAily::require_message`] or a message changes it;
    /// only runs created through the API follow the
    /// [schedule](FakeAily::set_run_schedule).
    pub fn add_run(&self, session_id: &str, run_id: &str) {
        self.add_run_with_status(session_id, run_id, "IN_PROGRESS");
    }

    /// Adds (or replaces) a run with any status string, e.g. `QUEUED`,
    /// `REQUIRES_MESSAGE`, `COMPLETED`, `FAILED` (which carries an `error`),
    /// or one the client does not know. Terminal statuses get an `ended_at`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_run_with_status("s", "r", "COMPLETED");
    /// assert_eq!(fake.run_status("s", "r").as_deref(), Some("COMPLETED"));
    /// assert_eq!(fake.run_status("s", "nope"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_run_with_status(&self, session_id: &str, run_id: &str, status: &str) {
        let mut state = self.shared.lock();
        let seq = state.conv.next_seq();
        state
            .conv
            .ensure_session(session_id)
            .runs
            .insert(run_id.to_owned(), RunRecord::fixed(run_id, seq, status));
    }

    /// The run's current status (after the steps of its schedule and any
    /// delayed cancel that are due), or `None` if there is no such run.
    pub fn run_status(&self, session_id: &str, run_id: &str) -> Option<String> {
        let mut state = self.shared.lock();
        let run = state
            .conv
            .sessions
            .get_mut(session_id)?
            .runs
            .get_mut(run_id)?;
        run.settle(Instant::now());
        Some(run.status().to_owned())
    }

    /// Makes cancellation asynchronous. With the default of zero a cancel
    /// turns the run `CANCELLED` at once and the reply says so. With a
    /// non-zero delay the reply (and every read before the delay is over)
    /// still shows the old status, e.g. `IN_PROGRESS`, and the run is
    /// `CANCELLED` from `delay` after the cancel on. Time is tokio's clock, so
    /// a paused clock drives it; nothing is spawned.
    ///
    /// ```
    /// use aily_fake::FakeAily;
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use std::time::Duration;
    ///
    /// # type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// async fn main() -> Result<(), BoxError> {
    ///     let fake = FakeAily::start().await?;
    ///     fake.add_tenant_token("t-test");
    ///     fake.add_run("s", "r");
    ///     fake.set_cancel_delay(Duration::from_secs(2));
    ///
    ///     let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ///     let url = format!("{}/open-apis/aily/v1/sessions/s/runs/r/cancel", fake.base_url());
    ///     let request = http::Request::post(url)
    ///         .header("authorization", "Bearer t-test")
    ///         .body(Full::default())?;
    ///     let body = client.request(request).await?.into_body().collect().await?;
    ///     let json: serde_json::Value = serde_json::from_slice(&body.to_bytes())?;
    ///     assert_eq!(json["data"]["run"]["status"], "IN_PROGRESS");
    ///
    ///     tokio::time::advance(Duration::from_secs(2)).await;
    ///     assert_eq!(fake.run_status("s", "r").as_deref(), Some("CANCELLED"));
    ///     Ok(())
    /// }
    /// ```
    pub fn set_cancel_delay(&self, delay: Duration) {
        self.shared.lock().conv.cancel_delay = delay;
    }

    /// How long runs created from now on through the API stay `QUEUED`, then
    /// `IN_PROGRESS` (writing their answer), before they are `COMPLETED`;
    /// default 200 ms and 1 s. Time is tokio's clock
    /// ([`tokio::time::Instant`]): with a paused clock, `tokio::time::advance`
    /// moves runs along; nothing is spawned. Zero durations skip the state.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_run_schedule(Duration::ZERO, Duration::from_secs(5));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_run_schedule(&self, queued: Duration, in_progress: Duration) {
        self.shared.lock().conv.schedule = Schedule {
            queued,
            in_progress,
        };
    }

    /// Puts a run that is not over into `REQUIRES_MESSAGE`: it waits (and
    /// does not progress, and shows no answer) until a message is created in
    /// its session; then it is `IN_PROGRESS` again and writes its answer to
    /// that message from the start (taking the scheduled time). Returns false
    /// if there is no such run or it is already over.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_run("s", "r");
    /// assert!(fake.require_message("s", "r"));
    /// assert_eq!(fake.run_status("s", "r").as_deref(), Some("REQUIRES_MESSAGE"));
    /// fake.add_run_with_status("s", "done", "COMPLETED");
    /// assert!(!fake.require_message("s", "done"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn require_message(&self, session_id: &str, run_id: &str) -> bool {
        let mut state = self.shared.lock();
        let run = state
            .conv
            .sessions
            .get_mut(session_id)
            .and_then(|s| s.runs.get_mut(run_id));
        run.is_some_and(|run| run.require_message(Instant::now()))
    }

    /// Adds a completed `TEXT` message from the user to session `session_id`
    /// (created if missing), as if it had been posted now; returns its id.
    /// Handy for filling pages.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// let id = fake.add_user_message("s", "hello");
    /// let messages = fake.session_messages_json("s").unwrap_or_default();
    /// assert_eq!(messages[0]["id"], id.as_str());
    /// assert_eq!(messages[0]["content"], "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_user_message(&self, session_id: &str, content: &str) -> String {
        let mut state = self.shared.lock();
        let seq = state.conv.next_seq();
        state
            .conv
            .ensure_session(session_id)
            .add_user_message(None, seq, content)
    }

    /// The session's visible messages now, oldest first, as the list endpoint
    /// with `with_partial_message=true` would return them (all pages), each the
    /// JSON object the endpoint sends; `None` if there is no such session.
    pub fn session_messages_json(&self, session_id: &str) -> Option<Vec<Value>> {
        let mut state = self.shared.lock();
        let session = state.conv.sessions.get_mut(session_id)?;
        Some(session.messages_json(Instant::now()))
    }

    /// The session's runs now, oldest first (all pages), each the JSON object
    /// the endpoint sends; `None` if there is no such session.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_run_with_status("s", "r1", "COMPLETED");
    /// fake.add_run("s", "r2");
    /// let runs = fake.session_runs_json("s").unwrap_or_default();
    /// let ids: Vec<&str> = runs.iter().filter_map(|r| r["id"].as_str()).collect();
    /// assert_eq!(ids, ["r1", "r2"]);
    /// assert_eq!(runs[0]["status"], "COMPLETED");
    /// assert!(fake.session_runs_json("nope").is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_runs_json(&self, session_id: &str) -> Option<Vec<Value>> {
        let mut state = self.shared.lock();
        Some(
            state
                .conv
                .sessions
                .get_mut(session_id)?
                .runs_json(Instant::now()),
        )
    }

    /// The most items a list page holds, whatever `page_size` asks (which
    /// defaults to 20); default 100, at least 1.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_max_page_size(25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_max_page_size(&self, max: usize) {
        self.shared.lock().conv.max_page_size = max.max(1);
    }

    /// When on, an unknown session id (on any route), run id (get run,
    /// cancel run, the `run_id` filter of list messages) or message id (get
    /// message) that passes the id check (not empty, percent-decodes to UTF-8
    /// without control characters) is not refused with 2700001 but created on
    /// first use: an empty session, a run that is `IN_PROGRESS` (and stays so
    /// until acted on), a completed `TEXT` message from the user. So a demo
    /// server (`aily fake`) can serve any command with made-up ids. Off by
    /// default; invalid ids are refused either way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_accept_any_ids(true);
    /// // A GET of session_x/run_y now finds (creates) an IN_PROGRESS run.
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_accept_any_ids(&self, accept: bool) {
        self.shared.lock().conv.accept_any_ids = accept;
    }
}
