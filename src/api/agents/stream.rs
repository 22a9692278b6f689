//! The agent chat's event stream, opt-in: [`Client::agent_chat_stream`] creates the
//! chat with `stream: true` and hands out its events as they come
//! ([`AgentChatStream`]); [`finish`](AgentChatStream::finish) gives the answer, and
//! falls back to reading the chat (chat get) when the stream fails.
//!
//! What is known of its format, and the fallback: the [`agents`](crate::agents)
//! module docs.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use http::StatusCode;
use tokio::time::Instant;

use crate::api::agents::chats::{
    CreateAgentChat, CreateAgentChatRequest, CreateAgentChatResponse, GetAgentChatRequest,
};
use crate::api::agents::events::AgentChatEvent;
use crate::api::agents::model::{AgentChat, AgentChatStatus, ChatContent, ContentType};
use crate::api::agents::wait::{
    self, AgentChatAnswer, OUTCOME_UNKNOWN, chat_ended, create_failed, create_timed_out,
};
use crate::api::request::{AilyRequest, Endpoint};
use crate::api::runs::WaitOptions;
use crate::api::sse::{Opened, ReplyEvents, StreamConfig};
use crate::client::{AilyService, Client};
use crate::error::{Error, ErrorKind};

/// The largest answer the stream joins, in bytes: past it the stream ends with a
/// [`BodyTooLarge`](ErrorKind::BodyTooLarge) error (and
/// [`finish`](AgentChatStream::finish) reads the chat instead).
///
/// ```
/// assert_eq!(aily_client::agents::MAX_STREAMED_ANSWER_BYTES, 1024 * 1024);
/// ```
pub const MAX_STREAMED_ANSWER_BYTES: usize = 1 << 20;

/// An agent chat being answered as an event stream: a [`Stream`] of
/// [`AgentChatEvent`]s, in order, then [`finish`](AgentChatStream::finish) for the
/// answer (see [the event stream](crate::agents#the-event-stream-opt-in) for the
/// format and the fallback).
///
/// The stream ends after `done` (the connection is then closed, as when the stream is
/// dropped), after an `error` event (handed out as [`AgentChatEvent::Error`]), or
/// with one error item: a malformed event, an answer over
/// [`MAX_STREAMED_ANSWER_BYTES`], a frame over the maximum frame size, the idle
/// timeout, the deadline, a failed connection, or the end of the body before `done`.
/// Errors carry the reply's HTTP status and log id. Dropping the stream does not stop
/// the chat (there is no cancel): [`agent_chat_id`](AgentChatStream::agent_chat_id)
/// finds it again.
///
/// A stream cut after `start`, against the fake server (feature `testing`): the
/// items show the cut, and [`finish`](AgentChatStream::finish) reads the chat.
///
/// ```
/// # #[cfg(feature = "testing")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use aily_client::agents::{AgentChatEvent, CreateAgentChatRequest};
/// use aily_client::testing::{FakeAily, Fault, Route, StreamFault, Times};
/// use aily_client::{Client, Credentials, WaitOptions};
/// use futures_util::StreamExt;
///
/// let fake = FakeAily::start().await?;
/// fake.add_tenant_token("t-docs");
/// fake.add_agent("agent_1");
/// fake.set_agent_answer(&["Hello, world"]);
/// fake.push_fault(Route::CreateAgentChat, Fault::Stream(StreamFault::Cut), Times::Once);
/// let client = Client::builder()
///     .base_url(fake.base_url())
///     .credentials(Credentials::tenant_token("t-docs"))
///     .build()?;
///
/// let options = WaitOptions::for_agent_chat_stream()
///     .interval(Duration::from_millis(10), Duration::from_millis(50));
/// let request = CreateAgentChatRequest::new("agent_1", "Hi")?;
/// let mut stream = client.agent_chat_stream_with(request, options).await?;
/// let mut cut = None;
/// while let Some(item) = stream.next().await {
///     match item {
///         Ok(AgentChatEvent::Start { agent_chat_id, .. }) => println!("chat {agent_chat_id}"),
///         Ok(event) => println!("{event:?}"),
///         Err(err) => cut = Some(err),
///     }
/// }
/// assert!(cut.unwrap().to_string().contains("ended early"));
/// assert!(stream.done_status().is_none());
/// let chat_id = stream.agent_chat_id().map(str::to_owned);
/// let answer = stream.finish().await?; // chat get, the authority
/// assert_eq!(answer.text, "Hello, world");
/// assert_eq!(Some(answer.agent_chat_id), chat_id);
/// assert!(answer.reads >= 1);
/// # Ok(()) }
/// # #[cfg(not(feature = "testing"))]
/// # fn main() {}
/// ```
pub struct AgentChatStream {
    agent_id: String,
    /// The events; their error is what ended the stream before `done`, if anything did.
    reply: ReplyEvents,
    /// An event to hand out before any other (the `start` a JSON reply stands for).
    pending: Option<AgentChatEvent>,
    agent_chat_id: Option<String>,
    session_id: Option<String>,
    text: String,
    done: Option<AgentChatStatus>,
    get: AilyService<GetAgentChatRequest>,
    options: WaitOptions,
    deadline: Instant,
}

impl AgentChatStream {
    /// The chat's id, once `start` named it (or, without `start`, the first event
    /// that carried one).
    pub fn agent_chat_id(&self) -> Option<&str> {
        self.agent_chat_id.as_deref()
    }

    /// The chat's session, once `start` named it.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The answer so far: the text of the `content` deltas handed out, joined.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The status `done` gave, once it came.
    pub fn done_status(&self) -> Option<&AgentChatStatus> {
        self.done.as_ref()
    }

    /// The HTTP status of the reply.
    pub fn status(&self) -> StatusCode {
        self.reply.status()
    }

    /// The reply's log id (`X-Tt-Logid`).
    pub fn log_id(&self) -> Option<&str> {
        self.reply.log_id()
    }

    /// Reads the rest of the stream and gives the answer:
    ///
    /// * `done` with `Completed`: the `content` deltas joined (no chat get;
    ///   [`reads`](AgentChatAnswer::reads) is 0);
    /// * `done` with `Failed` or `Cancelled`: a [`RunEnded`](ErrorKind::RunEnded)
    ///   error carrying the chat's id;
    /// * the stream failed or ended without a known final status, after `start`: the
    ///   chat read with chat get (at once, then growing intervals, the loop of
    ///   [`agent_chat`](crate::agents::agent_chat)) until it is terminal, within the
    ///   deadline; its errors carry the chat's id and say why the stream was left;
    /// * before `start`: an error saying "outcome unknown"
    ///   ([`may_have_acted`](Error::may_have_acted)); the chat is not created again.
    ///
    /// The [`AgentChatStream`] docs show it reading a chat after a cut; the
    /// [`agents`](crate::agents#example) docs, an answer the stream gave whole.
    pub async fn finish(mut self) -> Result<AgentChatAnswer, Error> {
        while futures_util::StreamExt::next(&mut self).await.is_some() {}
        let Some(chat_id) = self.agent_chat_id.take() else {
            return Err(self.before_start());
        };
        match self.done.take() {
            Some(AgentChatStatus::Completed) => {
                let chat = streamed_chat(&self.text, AgentChatStatus::Completed);
                return Ok(AgentChatAnswer {
                    agent_chat_id: chat_id,
                    session_id: self.session_id,
                    text: self.text,
                    chat,
                    reads: 0,
                });
            }
            Some(status @ (AgentChatStatus::Failed | AgentChatStatus::Cancelled)) => {
                return Err(chat_ended(&chat_id, streamed_chat(&self.text, status)));
            }
            Some(status) if self.reply.error().is_none() => {
                self.reply.fail(Error::new(
                    ErrorKind::Decode,
                    format!("`done` said status {status}, which this version does not know"),
                ));
            }
            _ => {}
        }
        let why = self.reply.error().map_or_else(
            || "the reply was not an event stream".to_owned(),
            |e| e.message().to_owned(),
        );
        tracing::debug!(
            target: "aily_client::agents::stream",
            agent_chat_id = %chat_id, why = %why,
            "the agent chat stream gave no answer: reading the chat",
        );
        let poll = wait::ChatPoll {
            agent_id: self.agent_id,
            agent_chat_id: chat_id,
            session_id: self.session_id,
            deadline: self.deadline,
            read_at_once: true,
        };
        wait::poll_chat(self.get, poll, &self.options)
            .await
            .map_err(|e| e.context(format!("the event stream was left ({why}), then")))
    }

    /// The error of a stream that never named its chat.
    fn before_start(&mut self) -> Error {
        let mut err = self
            .reply
            .take_error()
            .unwrap_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    "the agent chat stream ended without naming the chat (no `start`)",
                )
            })
            .context(OUTCOME_UNKNOWN);
        err.set_may_have_acted();
        err
    }

    /// Takes in one decoded event: the ids, the text, the end.
    fn observe(&mut self, event: &AgentChatEvent) -> Result<(), Error> {
        if self.agent_chat_id.is_none() {
            self.agent_chat_id = event.agent_chat_id().map(str::to_owned);
        }
        match event {
            AgentChatEvent::Start { session_id, .. } if self.session_id.is_none() => {
                self.session_id.clone_from(session_id);
            }
            AgentChatEvent::Done { status, .. } => {
                self.done = Some(status.clone());
                // Nothing follows `done`: the rest is not read.
                self.reply.close();
            }
            AgentChatEvent::Error { code, message, .. } => {
                let mut err = Error::new(
                    ErrorKind::Api,
                    "the agent chat stream sent an `error` event",
                );
                if let Some(code) = code {
                    err = err
                        .with_api(*code, message.clone().unwrap_or_default(), None)
                        .with_code_meaning(CreateAgentChat::ERROR_CODES);
                }
                self.reply.fail(err);
            }
            _ => {}
        }
        if let Some(text) = event.content_text() {
            if self.text.len() + text.len() > MAX_STREAMED_ANSWER_BYTES {
                return Err(Error::new(
                    ErrorKind::BodyTooLarge,
                    format!(
                        "the streamed agent answer is larger than {MAX_STREAMED_ANSWER_BYTES} bytes"
                    ),
                ));
            }
            self.text.push_str(text);
        }
        Ok(())
    }
}

/// The chat as the stream told it: its text as one item, and `status`.
fn streamed_chat(text: &str, status: AgentChatStatus) -> AgentChat {
    AgentChat {
        content: vec![ChatContent {
            content_type: ContentType::Text,
            text: Some(text.to_owned()),
            ..ChatContent::default()
        }],
        status,
        ..AgentChat::default()
    }
}

fn ended_early() -> Error {
    Error::new(
        ErrorKind::Transport,
        "the agent chat stream ended early: it closed before `done`",
    )
}

impl Stream for AgentChatStream {
    type Item = Result<AgentChatEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(event) = this.pending.take() {
            return Poll::Ready(Some(Ok(event)));
        }
        let item = match futures_core::ready!(this.reply.poll_event(cx, ended_early)) {
            None => return Poll::Ready(None),
            Some(Ok(event)) => AgentChatEvent::from_sse(&event.event, &event.data)
                .and_then(|decoded| this.observe(&decoded).map(|()| decoded))
                .map_err(|err| this.reply.fail(err)),
            Some(Err(err)) => Err(err),
        };
        Poll::Ready(Some(item))
    }
}

impl fmt::Debug for AgentChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentChatStream")
            .field("agent_chat_id", &self.agent_chat_id)
            .field("status", &self.reply.status())
            .field("log_id", &self.reply.log_id())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates an agent chat with `stream: true` and streams its events (see
    /// [the event stream](crate::agents#the-event-stream-opt-in) and [`AgentChatStream`]); the
    /// default way to chat is [`agent_chat`](Client::agent_chat), which this falls
    /// back to. Waits as [`WaitOptions::for_agent_chat_stream`] says: the stream and
    /// any reading of the chat after it end within 6 minutes (the server cuts the
    /// stream at 5).
    ///
    /// Answers once the reply's headers arrived (within the open timeout of the
    /// request's [`StreamConfig`], 10 s by default); the stream is bounded by its
    /// idle timeout (60 s by default), its frame size (1 MiB) and the wait's deadline.
    /// Never sent again once it may have reached the server: a failure then says
    /// "outcome unknown". An error reply is the error, naming what its code means.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use std::time::Duration;
    /// use aily_client::AilyRequest;
    /// use aily_client::agents::CreateAgentChatRequest;
    /// use aily_client::sse::StreamConfig;
    ///
    /// let request = CreateAgentChatRequest::new("agent_1", "Hi")?
    ///     .with_extension(StreamConfig::new().idle_timeout(Duration::from_secs(20)));
    /// let answer = client.agent_chat_stream(request).await?.finish().await?;
    /// println!("{}", answer.text);
    /// # Ok(()) }
    /// ```
    pub async fn agent_chat_stream(
        &self,
        request: CreateAgentChatRequest,
    ) -> Result<AgentChatStream, Error> {
        self.agent_chat_stream_with(request, WaitOptions::for_agent_chat_stream())
            .await
    }

    /// [`agent_chat_stream`](Client::agent_chat_stream) waiting as `options` say:
    /// `timeout` bounds the stream and the reading after it (from now), the
    /// intervals pace the reading.
    ///
    /// ```no_run
    /// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
    /// use std::time::Duration;
    /// use aily_client::WaitOptions;
    /// use aily_client::agents::CreateAgentChatRequest;
    ///
    /// let options = WaitOptions::for_agent_chat_stream().timeout(Duration::from_secs(600));
    /// let stream = client
    ///     .agent_chat_stream_with(CreateAgentChatRequest::new("agent_1", "Hi")?, options)
    ///     .await?;
    /// println!("chat {:?}", stream.agent_chat_id());
    /// # Ok(()) }
    /// ```
    pub async fn agent_chat_stream_with(
        &self,
        request: CreateAgentChatRequest,
        options: WaitOptions,
    ) -> Result<AgentChatStream, Error> {
        let config = request
            .options()
            .extensions()
            .get::<StreamConfig>()
            .copied()
            .unwrap_or_default();
        let timeout = options.timeout;
        let deadline = Instant::now() + timeout;
        let agent_id = request.agent_id().to_owned();
        let opened = tokio::time::timeout_at(deadline, self.open_stream(request.streamed())).await;
        let reply = match opened {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => return Err(create_failed(error)),
            Err(_) => return Err(create_timed_out(&options)),
        };
        let (status, log_id) = (reply.status(), reply.log_id().map(str::to_owned));
        let (events, named) = match reply.into_data() {
            Opened::Events(body) => (Some(body.events(&config, Some((deadline, timeout)))), None),
            // Not a stream: the chat runs in the background; `finish` reads it.
            Opened::Complete(CreateAgentChatResponse {
                agent_chat_id,
                session_id,
                ..
            }) => (
                None,
                (!agent_chat_id.is_empty()).then_some((agent_chat_id, session_id)),
            ),
        };
        Ok(AgentChatStream {
            agent_id,
            reply: ReplyEvents::new(events, status, log_id),
            agent_chat_id: named.as_ref().map(|(id, _)| id.clone()),
            session_id: named.as_ref().and_then(|(_, session)| session.clone()),
            pending: named.map(|(agent_chat_id, session_id)| AgentChatEvent::Start {
                agent_chat_id,
                session_id,
            }),
            text: String::new(),
            done: None,
            get: self.service(),
            options,
            deadline,
        })
    }
}
