//! The conversation helper: [`Ask`] — open a session (or reuse one), post the
//! message, start the run, wait for it, read the assistant's answer — and its
//! streaming form, [`Ask::stream`].
//!
//! Unlike the official SDKs' helper, the wait has a deadline and a growing interval
//! (the [`WaitOptions`] of `cancel_and_wait`), rate limits and 5xx are retried by the
//! stack below, `REQUIRES_MESSAGE` returns to the caller (the conversation goes on),
//! and a caller that goes away — the future or the stream dropped, the deadline
//! passed — has its run cancelled ([`RunHandle`]). No message content is logged or
//! put in a span.

mod stream;

use std::future::{Future, IntoFuture};
use std::pin::{Pin, pin};

use futures_util::StreamExt;
use tokio::time::Instant;

pub use stream::AskEvent;

use crate::client::Client;
use crate::error::Error;
use crate::messages::{ContentType, CreateMessageRequest, ListMessagesRequest, Message};
use crate::request::{AilyRequest, check_text, validate_id};
use crate::runs::{CreateRunRequest, Run, RunHandle, RunStatus, WaitOptions};
use crate::sessions::CreateSessionRequest;

/// One question to an Aily app, built with [`Client::ask`](crate::Client::ask):
/// `.await` it (or [`send`](Ask::send)) for the [`Answer`], [`stream`](Ask::stream)
/// it for the answer as it is written, or [`start`](Ask::start) it for the
/// [`RunHandle`].
///
/// ```no_run
/// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
/// let answer = client.ask("spring_xxx__c").text("What is Aily?").await?;
/// for message in &answer.messages {
///     println!("{}", message.content);
/// }
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

    /// How the run is waited for: the whole ask ends by `options.timeout` (default
    /// 30 s), reads spaced as it says.
    pub fn wait(mut self, options: WaitOptions) -> Ask {
        self.wait = options;
        self
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
        let run = self.biz(CreateRunRequest::new(probe, self.app_id.as_str())?)?;
        if let Some((skill, input)) = &self.skill {
            run.skill(skill.as_str(), input.as_deref())?;
        }
        Ok(Requests {
            session,
            content: (content_type.clone(), content.clone()),
            idempotent_id: message.idempotent_id().to_owned(),
        })
    }

    /// Opens the session (unless one was given), posts the message and starts the
    /// run; returns the run's handle (cancelled if dropped before it ends).
    pub async fn start(self) -> Result<RunHandle, Error> {
        let requests = self.requests()?;
        self.start_with(requests).await
    }

    async fn start_with(&self, requests: Requests) -> Result<RunHandle, Error> {
        let client = &self.client;
        // requests() made a session request exactly when no session was given.
        let session_id = match requests.session {
            Some(create) => client.create_session(create).await?.session.id,
            None => self.session_id.clone().unwrap_or_default(),
        };
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
        let created = client.create_run(run).await?;
        Ok(RunHandle::new(client.clone(), session_id, created.run))
    }

    /// Asks, waits for the run, and returns the answer. `FAILED`, `EXPIRED` and
    /// `CANCELLED` are [`RunEnded`](crate::ErrorKind::RunEnded) errors carrying the
    /// run; at the deadline the error is a [`Wait`](crate::TimeoutKind::Wait) timeout
    /// carrying the last run, and the run is cancelled. Dropping the future cancels
    /// the run too.
    pub async fn send(self) -> Result<Answer, Error> {
        let deadline = Instant::now() + self.wait.timeout;
        let requests = self.requests()?;
        let mut handle = self.start_with(requests).await?;
        handle.wait_until(deadline, &self.wait).await?;
        finish(&self.client, &mut handle).await
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
