//! The conversation helper: [`Ask`] — open a session (or reuse one), post the
//! message, start the run, wait for it, read the assistant's answer — and its
//! streaming form, [`Ask::stream`].
//!
//! Unlike the official SDKs' helper, one deadline ([`WaitOptions::timeout`]) bounds
//! the whole ask — creating the session, the message and the run, the wait (with a
//! growing interval), and reading the answer; rate limits and 5xx are retried by the
//! stack below, `REQUIRES_MESSAGE` returns to the caller (the conversation goes on),
//! and a caller that goes away — the future or the stream dropped, the deadline
//! passed — has its run cancelled ([`RunHandle`]). An error after the session exists
//! names it ([`Error::session_id`], and [`Error::run_id`] once the run is known).
//!
//! When the create-run reply is lost (the run may exist:
//! [`Error::may_have_acted`]), or the caller goes away while the run is being
//! created, `ask` finds the run by listing the session's runs — by its
//! [`request_id`](Ask::request_id) in the run's metadata when it has one, else every
//! run still going in the session it opened itself — and cancels it in the
//! background ([`Client::shutdown`](crate::Client::shutdown) waits for it). In a
//! session of the caller's without a request id it cannot tell its run from
//! others', and leaves it. No message content is logged or put in a span.
//!
//! # Asking
//!
//! `client.ask(app_id).text("…").await` opens a session (or [`.session(id)`](Ask::session)
//! reuses one), posts the message with one `idempotent_id`, starts the run, waits for it
//! with the [`WaitOptions`] of [`cancel_and_wait`](crate::Client::cancel_and_wait) (a
//! growing interval) and returns an [`Answer`]: the session, the run and the
//! assistant's messages of that run. **One deadline** ([`WaitOptions::timeout`], 30 s
//! by default) bounds the whole ask, reading the answer included — whose listing is
//! itself capped: [`paginate::MAX_PAGES`](crate::api::paginate::MAX_PAGES) pages, page tokens
//! of at most [`paginate::MAX_PAGE_TOKEN_LEN`](crate::api::paginate::MAX_PAGE_TOKEN_LEN)
//! bytes. `REQUIRES_MESSAGE` returns to the caller (ask again in the same session to go
//! on); `FAILED`, `EXPIRED` and `CANCELLED` are
//! [`ErrorKind::RunEnded`](crate::ErrorKind::RunEnded) errors carrying the run; the
//! deadline is a [`TimeoutKind::Wait`](crate::TimeoutKind::Wait) error carrying the last
//! run (if there is one yet). Skill id and input, `X-Aily-BizUserID` and the message's
//! `idempotent_id` are builder settings.
//!
//! **Tagging and validating.** [`.metadata(json)`](Ask::metadata) sets the run's
//! metadata and [`.request_id(id)`](Ask::request_id) (your own id, at most 64
//! characters) adds `"request_id"` to it (the metadata must then be a JSON object, at
//! most 255 characters in all); [`validate`](Ask::validate) checks everything the ask
//! would send — app id, session id, question, skill, idempotency key, metadata, request
//! id, `X-Aily-BizUserID` — without sending anything, the same error `send` would
//! return:
//!
//! ```
//! use aily_client::{Client, Credentials};
//!
//! let client = Client::builder().credentials(Credentials::tenant_token("t-x")).build()?;
//! let ask = client.ask("spring_xxx__c").text("What is Aily?").request_id("order-42");
//! assert!(ask.validate().is_ok());
//! let too_long = client.ask("spring_xxx__c").text("Hi").request_id("x".repeat(65));
//! assert!(too_long.validate().unwrap_err().is_invalid_input());
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! # Streaming
//!
//! [`.stream()`](Ask::stream) (or [`client.ask_stream(app, text)`](crate::Client::ask_stream))
//! yields [`AskEvent::Started`], then `Delta` — only the text added to an assistant
//! message since the last update (read with `with_partial_message=true`) — or
//! `Replaced` if the server rewrote one, then `Done(answer)`:
//!
//! ```no_run
//! # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
//! use futures_util::StreamExt;
//! use aily_client::ask::AskEvent;
//!
//! let mut answer = std::pin::pin!(client.ask("spring_xxx__c").text("What is Aily?").stream());
//! while let Some(event) = answer.next().await {
//!     match event? {
//!         AskEvent::Delta { delta, .. } => print!("{delta}"),
//!         AskEvent::Done(answer) => println!("\n[{}]", answer.run.status),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Cancel on drop
//!
//! In a service the common case is a caller that goes away: the user closes the page,
//! an upstream timeout fires, the handler's future is dropped. A [`RunHandle`]
//! ([`Client::create_run_handle`](crate::Client::create_run_handle),
//! [`Ask::start`]) — and the future or stream of an ask, which own one — dropped while
//! its run is not terminal cancels the run in the background: one cancel through the
//! normal stack (retried as usual) bounded by its own timeout (10 s), on the runtime the
//! run was started on, never blocking the drop, logged with the run's ids.
//! `handle.detach()` opts out; `handle.wait(..)`, `handle.cancel()` do what they say. A
//! handle cancels the run it was created for, whatever a later reply names (a reply
//! naming another run is a `Decode` error).
//!
//! The background cancels of a client go through one bounded queue (10,000) and one
//! worker task that runs at most 16 at once
//! ([`ClientBuilder::background_cancels`](crate::ClientBuilder::background_cancels)) and
//! ends when the queue is empty; [`Client::background_cancels`](crate::Client::background_cancels)
//! counts them, and [`Client::shutdown`](crate::Client::shutdown) waits for them and the
//! worker, so a service that exits cleanly leaves no run behind. `shutdown` is bounded
//! ([`background::DEFAULT_SHUTDOWN_TIMEOUT`](crate::background::DEFAULT_SHUTDOWN_TIMEOUT),
//! 15 s; [`shutdown_within`](crate::Client::shutdown_within) takes another bound and
//! says whether everything was done) and nothing wedges it: a cancel task that panics is
//! counted as failed, and cancels whose runtime was dropped are run on the runtime
//! `shutdown` is awaited on. Tested: an ask future, a stream and a handle dropped (one
//! cancel each, within a second), one detached (none), 1,000 handles dropped at once
//! (1,000 cancels, never more than 16 at the server at once, no task left after
//! `shutdown`); the microservice example's `POST /ask` streams an answer as server-sent
//! events, and a client that disconnects mid-answer leaves the run `CANCELLED`. `aily
//! ask` does the same from a shell: on `--timeout`, an error, Ctrl-C or SIGTERM it
//! cancels the run before it exits (1, 130, 143).

mod stream;

use std::future::{Future, IntoFuture};
use std::pin::{Pin, pin};

use futures_core::Stream;
use futures_util::StreamExt;
use tokio::time::Instant;

pub use stream::AskEvent;

use crate::api::messages::{ContentType, CreateMessageRequest, ListMessagesRequest, Message};
use crate::api::request::{AilyRequest, check_json_text, check_text, validate_id};
use crate::api::runs::{CreateRunRequest, Run, RunHandle, RunStatus, WaitOptions};
use crate::api::sessions::CreateSessionRequest;
use crate::background::Target;
use crate::client::Client;
use crate::error::Error;

impl Client {
    /// Asks Aily app `app_id` a question: set it with [`Ask::text`], then `.await`
    /// the [`Answer`](crate::ask::Answer) or [`stream`](Ask::stream) it.
    pub fn ask(&self, app_id: impl Into<String>) -> Ask {
        Ask::new(self.clone(), app_id)
    }

    /// `ask(app_id).text(text).stream()`: the answer as it is written.
    pub fn ask_stream(
        &self,
        app_id: impl Into<String>,
        text: impl Into<String>,
    ) -> impl Stream<Item = Result<AskEvent, Error>> + Send + 'static {
        self.ask(app_id).text(text).stream()
    }
}

/// One question to an Aily app, built with [`Client::ask`](crate::Client::ask):
/// `.await` it (or [`send`](Ask::send)) for the [`Answer`], [`stream`](Ask::stream)
/// it for the answer as it is written, or [`start`](Ask::start) it for the
/// [`RunHandle`].
///
/// ```no_run
/// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
/// let answer = client.ask("spring_xxx__c").text("What is Aily?").await?;
/// println!("{}", answer.text());
/// // Go on in the same session.
/// let next = client.ask("spring_xxx__c").session(&answer.session_id).text("And more?").await?;
/// # let _ = next;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "an Ask does nothing until it is awaited, streamed or started"]
pub struct Ask {
    client: Client,
    app_id: String,
    content: Option<(ContentType, String)>,
    session_id: Option<String>,
    skill: Option<(String, Option<String>)>,
    biz_user_id: Option<String>,
    idempotent_id: Option<String>,
    metadata: Option<String>,
    request_id: Option<String>,
    wait: WaitOptions,
}

/// What an [`Ask`] returns: the session (to go on with), the run as it ended (or
/// `REQUIRES_MESSAGE`), and the assistant's messages of that run, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer {
    /// The session the conversation is in.
    pub session_id: String,
    /// The run: `COMPLETED`, or `REQUIRES_MESSAGE` (post another message to go on).
    pub run: Run,
    /// The assistant's messages of this run.
    pub messages: Vec<Message>,
}

impl Answer {
    /// The assistant's messages' contents, joined by newlines.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .messages
            .iter()
            .map(|m| m.content.as_deref().unwrap_or_default())
            .collect();
        parts.join("\n")
    }
}

impl Ask {
    pub(crate) fn new(client: Client, app_id: impl Into<String>) -> Ask {
        Ask {
            client,
            app_id: app_id.into(),
            content: None,
            session_id: None,
            skill: None,
            biz_user_id: None,
            idempotent_id: None,
            metadata: None,
            request_id: None,
            wait: WaitOptions::default(),
        }
    }

    /// The question, as plain text (`TEXT`).
    pub fn text(self, text: impl Into<String>) -> Ask {
        self.content(ContentType::Text, text)
    }

    /// The question, with its content type (`MDX`, `TEXT`, `JSON`, …).
    pub fn content(mut self, content_type: ContentType, content: impl Into<String>) -> Ask {
        self.content = Some((content_type, content.into()));
        self
    }

    /// Asks in this session instead of opening a new one.
    pub fn session(mut self, session_id: impl Into<String>) -> Ask {
        self.session_id = Some(session_id.into());
        self
    }

    /// Runs this skill (with its input as JSON text), skipping intent matching.
    pub fn skill(mut self, skill_id: impl Into<String>, input: Option<&str>) -> Ask {
        self.skill = Some((skill_id.into(), input.map(str::to_owned)));
        self
    }

    /// Sends `X-Aily-BizUserID` (the end user's stable id) on every request.
    pub fn biz_user_id(mut self, id: impl Into<String>) -> Ask {
        self.biz_user_id = Some(id.into());
        self
    }

    /// The message's `idempotent_id` (else one is generated, once).
    pub fn idempotent_id(mut self, id: impl Into<String>) -> Ask {
        self.idempotent_id = Some(id.into());
        self
    }

    /// The run's `metadata` (JSON text, at most 255 characters with the request id,
    /// if any, added), echoed by get and list.
    pub fn metadata(mut self, json: impl Into<String>) -> Ask {
        self.metadata = Some(json.into());
        self
    }

    /// Your own id for this ask (at most 64 characters), stored as `request_id` in the
    /// run's metadata (which must then be a JSON object, if set): it finds the run
    /// by listing when the create-run reply is lost (see the [module](self) docs).
    pub fn request_id(mut self, id: impl Into<String>) -> Ask {
        self.request_id = Some(id.into());
        self
    }

    /// How the run is waited for: the whole ask — creation, wait and the final read —
    /// ends by `options.timeout` (default 30 s), reads spaced as it says.
    pub fn wait(mut self, options: WaitOptions) -> Ask {
        self.wait = options;
        self
    }

    /// Checks everything this ask would send — the app id, the session id, the
    /// question, the skill, the idempotency key, the metadata and request id, the
    /// `X-Aily-BizUserID` — without sending anything: the error `send`, `stream` or
    /// `start` would return before any request.
    ///
    /// ```
    /// # fn f(client: aily_client::Client) {
    /// let ask = client.ask("spring_xxx__c").text("hi").metadata("not json");
    /// assert!(ask.validate().unwrap_err().is_invalid_input());
    /// # }
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        self.requests().map(drop)
    }

    /// The run's metadata: the caller's, with `request_id` added when there is one.
    fn run_metadata(&self) -> Result<Option<String>, Error> {
        let Some(request_id) = &self.request_id else {
            return Ok(self.metadata.clone());
        };
        if request_id.is_empty() || request_id.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "invalid request_id: must be non-empty, without control characters",
            ));
        }
        check_text("request_id", request_id, 64)?;
        let mut object = match &self.metadata {
            None => serde_json::Map::new(),
            Some(json) => {
                check_json_text("metadata", json)?;
                match serde_json::from_str::<serde_json::Value>(json) {
                    Ok(serde_json::Value::Object(object)) => object,
                    _ => {
                        return Err(Error::invalid_input(
                            "invalid metadata: must be a JSON object to carry a request_id",
                        ));
                    }
                }
            }
        };
        object.insert("request_id".into(), request_id.as_str().into());
        let json = serde_json::Value::Object(object).to_string();
        check_json_text("metadata", &json)?;
        Ok(Some(json))
    }

    /// `request` with this ask's `X-Aily-BizUserID`, when it has one.
    fn biz<R: AilyRequest>(&self, request: R) -> Result<R, Error> {
        match &self.biz_user_id {
            Some(id) => request.with_biz_user_id(id),
            None => Ok(request),
        }
    }

    /// Every request of this ask, validated before anything is sent.
    fn requests(&self) -> Result<Requests, Error> {
        let Some((content_type, content)) = &self.content else {
            return Err(Error::invalid_input(
                "no question: call text(..) or content(..) before sending",
            ));
        };
        validate_id("app_id", &self.app_id)?;
        check_text("app_id", &self.app_id, 64)?;
        let session = match &self.session_id {
            Some(id) => {
                validate_id("aily_session_id", id)?;
                None
            }
            None => Some(self.biz(CreateSessionRequest::new())?),
        };
        // The session id is known only once it exists; these are checked with a
        // stand-in and made again then.
        let probe = self.session_id.as_deref().unwrap_or("session_new");
        let mut message = self.biz(CreateMessageRequest::new(
            probe,
            content_type.clone(),
            content.as_str(),
        )?)?;
        if let Some(id) = &self.idempotent_id {
            message = message.with_idempotent_id(id)?;
        }
        let mut run = self.biz(CreateRunRequest::new(probe, self.app_id.as_str())?)?;
        if let Some((skill, input)) = &self.skill {
            run = run.skill(skill.as_str(), input.as_deref())?;
        }
        let metadata = self.run_metadata()?;
        if let Some(json) = &metadata {
            run.metadata(json.as_str())?;
        }
        Ok(Requests {
            session,
            content: (content_type.clone(), content.clone()),
            idempotent_id: message.idempotent_id().to_owned(),
            metadata,
        })
    }

    /// Opens the session (unless one was given), posts the message and starts the
    /// run; returns the run's handle (cancelled if dropped before it ends).
    /// Bounded by the ask's deadline ([`wait`](Ask::wait)); its error names the
    /// session once it exists (see [`send`](Ask::send)).
    pub async fn start(self) -> Result<RunHandle, Error> {
        let deadline = Instant::now() + self.wait.timeout;
        let requests = self.requests()?;
        self.start_by(requests, deadline).await
    }

    /// [`start_with`](Ask::start_with) by `deadline`; the error names the session
    /// once it exists.
    async fn start_by(&self, requests: Requests, deadline: Instant) -> Result<RunHandle, Error> {
        let mut seen = Seen::default();
        let started = tokio::time::timeout_at(deadline, self.start_with(requests, &mut seen)).await;
        let started = started.unwrap_or_else(|_| Err(seen.timed_out(self.wait.timeout)));
        started.map_err(|e| seen.name(e))
    }

    async fn start_with(&self, requests: Requests, seen: &mut Seen) -> Result<RunHandle, Error> {
        let client = &self.client;
        // requests() made a session request exactly when no session was given.
        let opened = requests.session.is_some();
        let session_id = match requests.session {
            Some(create) => client.create_session(create).await?.into_data().session.id,
            None => self.session_id.clone().unwrap_or_default(),
        };
        seen.session_id = Some(session_id.clone());
        let (content_type, content) = requests.content;
        let message = self.biz(
            CreateMessageRequest::new(&session_id, content_type, content)?
                .with_idempotent_id(requests.idempotent_id)?,
        )?;
        client.create_message(message).await?;
        let mut run = self.biz(CreateRunRequest::new(&session_id, self.app_id.as_str())?)?;
        if let Some((skill, input)) = &self.skill {
            run = run.skill(skill.as_str(), input.as_deref())?;
        }
        if let Some(json) = requests.metadata {
            run = run.metadata(json)?;
        }
        // Until the reply names the run, losing it (or this future) leaves a run this
        // ask cannot name: found by listing and cancelled, when it can be told apart.
        let target = match (&self.request_id, opened) {
            (Some(id), _) => Some(Target::Find(Some(id.clone()))),
            (None, true) => Some(Target::Find(None)),
            (None, false) => None,
        };
        let mut unnamed = UnnamedRun {
            client,
            session_id: &session_id,
            target,
        };
        let created = match client.create_run(run).await {
            Ok(created) => created,
            Err(error) => {
                if !error.may_have_acted() {
                    unnamed.target = None;
                }
                return Err(error);
            }
        };
        let handle = RunHandle::new(client.clone(), session_id.clone(), created.into_data().run)?;
        unnamed.target = None;
        seen.run_id = Some(handle.run_id().to_owned());
        seen.run = Some(handle.run().clone());
        Ok(handle)
    }

    /// Asks, waits for the run, and returns the answer. `FAILED`, `EXPIRED` and
    /// `CANCELLED` are [`RunEnded`](crate::ErrorKind::RunEnded) errors carrying the
    /// run; at the deadline the error is a [`Wait`](crate::TimeoutKind::Wait) timeout
    /// carrying the last run, and the run is cancelled. Dropping the future cancels
    /// the run too.
    ///
    /// One deadline, [`WaitOptions::timeout`], bounds all of it — creation, wait and
    /// the final read of the messages: past it the error is a
    /// [`Wait`](crate::TimeoutKind::Wait) timeout (carrying the last run, once there
    /// is one). Any error after the session exists names it
    /// ([`Error::session_id`]), and the run once its ID is known
    /// ([`Error::run_id`]); a run whose create reply was lost is found and cancelled
    /// (see the [module](self) docs). Invalid input is an error before anything is
    /// sent ([`validate`](Ask::validate)).
    pub async fn send(self) -> Result<Answer, Error> {
        let deadline = Instant::now() + self.wait.timeout;
        let requests = self.requests()?;
        let mut seen = Seen::default();
        let answer = tokio::time::timeout_at(deadline, async {
            let mut handle = self.start_with(requests, &mut seen).await?;
            let waited = handle.wait_until(deadline, &self.wait).await.map(drop);
            seen.run = Some(handle.run().clone());
            waited?;
            finish(&self.client, &mut handle).await
        })
        .await;
        let answer = answer.unwrap_or_else(|_| Err(seen.timed_out(self.wait.timeout)));
        answer.map_err(|e| seen.name(e))
    }

    /// The answer as it is written: see [`AskEvent`].
    pub fn stream(
        self,
    ) -> impl futures_core::Stream<Item = Result<AskEvent, Error>> + Send + 'static {
        stream::ask_stream(self)
    }
}

impl IntoFuture for Ask {
    type Output = Result<Answer, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Answer, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// What an ask sends, checked before anything is: the session to create (none when
/// one was given), the question, and the message's idempotency key.
struct Requests {
    session: Option<CreateSessionRequest>,
    content: (ContentType, String),
    idempotent_id: String,
    /// The run's metadata, request id included.
    metadata: Option<String>,
}

/// What an ask had made when it failed: named in its error.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) session_id: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) run: Option<Run>,
}

impl Seen {
    /// `error` naming the session and run, when they exist.
    pub(crate) fn name(&self, error: Error) -> Error {
        match &self.session_id {
            Some(session_id) => error.with_ask_ids(session_id, self.run_id.as_deref()),
            None => error,
        }
    }

    /// The ask's deadline passed (`after` from its start).
    pub(crate) fn timed_out(&self, after: std::time::Duration) -> Error {
        Error::wait_timeout(after, self.run.clone().map(|run| (run, None)))
    }
}

/// A run being created whose ID is not known yet: dropped with a target (the reply
/// was lost, or the caller went away meanwhile), it is found and cancelled in the
/// background.
struct UnnamedRun<'a> {
    client: &'a Client,
    session_id: &'a str,
    target: Option<Target>,
}

impl Drop for UnnamedRun<'_> {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            self.client
                .cancel_in_background(None, self.session_id, target);
        }
    }
}

/// At most the first 64 characters of server text put in an error message.
pub(crate) fn clip(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The run has stopped (terminal or `REQUIRES_MESSAGE`): its answer, or the error
/// of a run that ended without one.
pub(crate) async fn finish(client: &Client, handle: &mut RunHandle) -> Result<Answer, Error> {
    let run = handle.run().clone();
    match run.status {
        RunStatus::Completed | RunStatus::RequiresMessage => {}
        _ => return Err(Error::run_ended(run)),
    }
    let messages = assistant_messages(client, handle.session_id(), &run.id, false).await?;
    let session_id = handle.session_id().to_owned();
    // Done with it: not cancelled on drop.
    handle.disarm();
    Ok(Answer {
        session_id,
        run,
        messages,
    })
}

/// The assistant's messages of run `run_id`, every page, in order.
pub(crate) async fn assistant_messages(
    client: &Client,
    session_id: &str,
    run_id: &str,
    partial: bool,
) -> Result<Vec<Message>, Error> {
    let request = ListMessagesRequest::new(session_id)?
        .run(run_id)?
        .partial(partial);
    let mut pages = pin!(client.messages_stream(request));
    let mut out = Vec::new();
    while let Some(message) = pages.next().await {
        let message = message?;
        if message.is_from_assistant() {
            out.push(message);
        }
    }
    Ok(out)
}
