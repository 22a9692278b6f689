//! Chat and wait: [`agent_chat`] creates a chat in the background (`stream:
//! false`) and reads it with a growing interval until its status is terminal, under
//! a deadline — the non-streaming path, the default while the event stream's format
//! is third-party only.
//!
//! There is no cancel and no idempotency key: a failure after the chat was created
//! carries its [`agent_chat_id`](Error::agent_chat_id) (the chat may still run
//! server-side), and a create whose outcome is unknown (the reply was lost) is
//! reported as such and never sent again.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::api::agents::chats::{
    CreateAgentChatRequest, CreateAgentChatResponse, GetAgentChatRequest,
};
use crate::api::agents::model::{AgentChat, AgentChatStatus};
use crate::api::runs::WaitOptions;
use crate::error::{AttachedRun, Error, ErrorKind, TimeoutKind};
use crate::layers::api_call::Reply;

impl WaitOptions {
    /// The wait of [`agent_chat`]: at most 5 minutes (agent chats end there
    /// server-side), reads 1 s apart growing to 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = aily_client::WaitOptions::for_agent_chat();
    /// assert_eq!((opts.initial_interval, opts.max_interval), (Duration::from_secs(1), Duration::from_secs(5)));
    /// ```
    pub fn for_agent_chat() -> WaitOptions {
        WaitOptions::new()
            .timeout(Duration::from_secs(300))
            .interval(Duration::from_secs(1), Duration::from_secs(5))
    }

    /// The wait of [`Client::agent_chat_stream`](crate::Client::agent_chat_stream): at
    /// most 6 minutes — the server's 5-minute cap on the stream, then time to read
    /// the chat after it — reads 1 s apart growing to 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = aily_client::WaitOptions::for_agent_chat_stream();
    /// assert_eq!(opts.timeout, Duration::from_secs(360));
    /// ```
    pub fn for_agent_chat_stream() -> WaitOptions {
        WaitOptions::for_agent_chat().timeout(Duration::from_secs(360))
    }
}

/// A chat that reached `Completed`: its ids, the chat, and its text joined.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentChatAnswer {
    /// The chat's id.
    pub agent_chat_id: String,
    /// Its session's id, when the create reply named it.
    pub session_id: Option<String>,
    /// The chat as last read — or, for an answer the event stream gave whole
    /// ([`AgentChatStream::finish`](crate::agents::AgentChatStream::finish)), as the
    /// stream told it: its text as one `text` item and the `done` status.
    pub chat: AgentChat,
    /// The text of its `text` items, joined ([`AgentChat::text`]); from the event
    /// stream, its `content` deltas joined.
    pub text: String,
    /// How many times the chat was read (chat get): 0 when the event stream gave
    /// the whole answer.
    pub reads: u32,
}

/// What an error of [`agent_chat`] carries: the chat's id and the chat last read.
#[derive(Debug)]
struct ChatAttachment {
    agent_chat_id: String,
    last: Option<AgentChat>,
}

impl AttachedRun for ChatAttachment {
    fn status(&self) -> &str {
        self.last.as_ref().map_or("unknown", |c| c.status.as_str())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Error {
    /// For an error of [`agent_chat`](crate::agents::agent_chat) after the chat was
    /// created (it failed, was cancelled, a read failed, or the deadline passed):
    /// the chat's id — it may still run server-side; read it with
    /// [`GetAgentChatRequest`].
    pub fn agent_chat_id(&self) -> Option<&str> {
        Some(&self.chat_attachment()?.agent_chat_id)
    }

    /// For an error of [`agent_chat`](crate::agents::agent_chat): the chat as last read.
    pub fn last_agent_chat(&self) -> Option<&AgentChat> {
        self.chat_attachment()?.last.as_ref()
    }

    fn chat_attachment(&self) -> Option<&ChatAttachment> {
        self.attached_run()?.as_any().downcast_ref()
    }

    pub(crate) fn with_chat(self, agent_chat_id: &str, last: Option<AgentChat>) -> Error {
        self.with_last_run(Arc::new(ChatAttachment {
            agent_chat_id: agent_chat_id.to_owned(),
            last,
        }))
    }
}

/// Creates the chat through `create` with `stream: false`, then reads it through
/// `get` — `initial_interval` apart, doubling up to `max_interval` — until its
/// status is `Completed` (the answer), `Failed` or `Cancelled` (a
/// [`RunEnded`](ErrorKind::RunEnded) error), all within `options.timeout`. A status
/// this version does not know is waited on.
///
/// Errors after the create carry the chat's id ([`Error::agent_chat_id`]); at the
/// deadline — not later — the error is a [`TimeoutKind::Wait`] timeout. When the
/// create's outcome is unknown (the reply was lost or timed out after the request
/// may have reached the server) the error says "outcome unknown" and the chat is
/// **not** created again. [`Client::agent_chat`](crate::Client::agent_chat) calls it
/// with the client's own services.
///
/// ```no_run
/// # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
/// use aily_client::agents::{CreateAgentChatRequest, agent_chat};
/// use aily_client::WaitOptions;
/// let answer = agent_chat(
///     client.service(),
///     client.service(),
///     CreateAgentChatRequest::new("agent_1", "Hello")?,
///     WaitOptions::for_agent_chat(),
/// )
/// .await?;
/// println!("{}", answer.text);
/// # Ok(()) }
/// ```
pub async fn agent_chat<C, G>(
    create: C,
    get: G,
    request: CreateAgentChatRequest,
    options: WaitOptions,
) -> Result<AgentChatAnswer, Error>
where
    C: Service<CreateAgentChatRequest, Response = Reply<CreateAgentChatResponse>>,
    C::Error: Into<Error>,
    G: Service<GetAgentChatRequest, Response = Reply<AgentChat>>,
    G::Error: Into<Error>,
{
    let deadline = Instant::now() + options.timeout;
    let agent_id = request.agent_id().to_owned();
    let created = tokio::time::timeout_at(deadline, create.oneshot(request.in_background())).await;
    let created = match created {
        Ok(Ok(reply)) => reply.into_data(),
        Ok(Err(error)) => return Err(create_failed(error.into())),
        Err(_) => return Err(create_timed_out(&options)),
    };
    let poll = ChatPoll {
        agent_id,
        agent_chat_id: created.agent_chat_id,
        session_id: created.session_id,
        deadline,
        read_at_once: false,
    };
    poll_chat(get, poll, &options).await
}

/// What [`poll_chat`] reads: a created chat, until `deadline`.
pub(crate) struct ChatPoll {
    pub(crate) agent_id: String,
    pub(crate) agent_chat_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) deadline: Instant,
    /// `true`: the first read at once (the chat has been running for a while);
    /// `false`: after `initial_interval`.
    pub(crate) read_at_once: bool,
}

/// Reads the chat through `get` until its status is terminal or the deadline:
/// `initial_interval` apart, doubling up to `max_interval` (the first read at once
/// when asked). The answer, a [`RunEnded`](ErrorKind::RunEnded) error, or the
/// error of a read or of the deadline, each carrying the chat's id.
pub(crate) async fn poll_chat<G>(
    mut get: G,
    poll: ChatPoll,
    options: &WaitOptions,
) -> Result<AgentChatAnswer, Error>
where
    G: Service<GetAgentChatRequest, Response = Reply<AgentChat>>,
    G::Error: Into<Error>,
{
    let ChatPoll {
        agent_id,
        agent_chat_id: chat_id,
        session_id,
        deadline,
        read_at_once,
    } = poll;
    let read = GetAgentChatRequest::new(&agent_id, &chat_id)
        .map_err(|e| e.context("the create reply's agent_chat_id"))?;
    let mut interval = options.initial_interval;
    let mut at_once = read_at_once;
    let mut wait = if at_once { Duration::ZERO } else { interval };
    let mut last: Option<AgentChat> = None;
    let mut reads = 0u32;
    loop {
        let wake = Instant::now() + wait;
        if wake >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(timed_out(options, &chat_id, last));
        }
        tokio::time::sleep_until(wake).await;
        reads += 1;
        let reply = tokio::time::timeout_at(deadline, async {
            get.ready()
                .await
                .map_err(Into::into)?
                .call(read.clone())
                .await
                .map_err(Into::into)
        })
        .await;
        let chat = match reply {
            Err(_) => return Err(timed_out(options, &chat_id, last)),
            Ok(Err(error)) => {
                return Err(error
                    .context(format!(
                        "reading agent chat {chat_id} (it may still run server-side)"
                    ))
                    .with_chat(&chat_id, last));
            }
            Ok(Ok(reply)) => reply.into_data(),
        };
        tracing::debug!(target: "aily_client::agents::wait", status = %chat.status, reads, "read the agent chat");
        match chat.status {
            AgentChatStatus::Completed => {
                return Ok(AgentChatAnswer {
                    agent_chat_id: chat_id,
                    session_id,
                    text: chat.text(),
                    chat,
                    reads,
                });
            }
            AgentChatStatus::Failed | AgentChatStatus::Cancelled => {
                return Err(chat_ended(&chat_id, chat));
            }
            _ => last = Some(chat),
        }
        // The read made at once does not count as an interval: the next is the first.
        if !std::mem::take(&mut at_once) {
            interval = (interval * 2).min(options.max_interval);
        }
        wait = interval;
    }
}

/// The error of a chat that ended `Failed` or `Cancelled`.
pub(crate) fn chat_ended(chat_id: &str, chat: AgentChat) -> Error {
    let why = format!("agent chat {chat_id} ended {}", chat.status);
    Error::new(ErrorKind::RunEnded, why).with_chat(chat_id, Some(chat))
}

/// The error of a create that failed: "outcome unknown" when the request may have
/// reached the server (the chat may run, its id unknown), else the server's refusal.
pub(crate) fn create_failed(error: Error) -> Error {
    if error.may_have_acted() || error.is_timeout() {
        error.context(OUTCOME_UNKNOWN)
    } else {
        error
    }
}

/// The error of a create still unanswered at the wait's deadline.
pub(crate) fn create_timed_out(options: &WaitOptions) -> Error {
    Error::timeout(TimeoutKind::Wait, options.timeout).context(OUTCOME_UNKNOWN)
}

pub(crate) const OUTCOME_UNKNOWN: &str = "agent chat create: outcome unknown (the request may have reached \
     the server and the chat may run, but its id was not received; not created again)";

fn timed_out(options: &WaitOptions, chat_id: &str, last: Option<AgentChat>) -> Error {
    Error::timeout(TimeoutKind::Wait, options.timeout)
        .context(format!(
            "agent chat {chat_id} not finished at the deadline (it may still run server-side; \
             there is no cancel)"
        ))
        .with_chat(chat_id, last)
}
