//! The agents (`/open-apis/aily/v1/agents/:agent_id/…`; the `agent_…` id is in the
//! agent's URL, `aily.feishu.cn/agents/agent_…`): chats ([`CreateAgentChatRequest`],
//! [`GetAgentChatRequest`], and [`agent_chat`], which creates one and reads it until
//! it is done — the default), the chat's event stream, opt-in
//! ([`Client::agent_chat_stream`](crate::Client::agent_chat_stream), [`AgentChatStream`],
//! [`AgentChatEvent`]), sessions (create, get, list, delete), attachment upload
//! (`multipart/form-data`), artifacts and the visibility check.
//!
//! The error codes are third-party only and every endpoint says what they mean on
//! it (its [`ERROR_CODES`](crate::request::Endpoint::ERROR_CODES)): 10001 validation,
//! 10002 not found (a chat, session or artifact) or another identity's, 10006 the
//! OpenAPI channel is off on the agent, 10007 access denied, 10008 the tenant has not
//! enabled the Aily OpenAPI, 50001 internal. Creating a chat, a session or an
//! attachment is never retried once it may have reached the server.
//!
//! ```no_run
//! # async fn f(client: aily_client::Client) -> Result<(), aily_client::Error> {
//! use aily_client::agents::CreateAgentChatRequest;
//! let answer = client.agent_chat(CreateAgentChatRequest::new("agent_1", "Hello")?).await?;
//! println!("{} ({})", answer.text, answer.agent_chat_id);
//! # Ok(()) }
//! ```
//!
//! # The event stream (opt-in)
//!
//! [`Client::agent_chat_stream`](crate::Client::agent_chat_stream) creates the chat
//! with `stream: true` through the [streaming call path](crate::sse#the-streaming-call-path)
//! and hands out its events as they come ([`AgentChatStream`], a
//! [`Stream`](futures_core::Stream) of [`AgentChatEvent`]s, with the `agent_chat_id`
//! from `start`); [`finish`](AgentChatStream::finish) gives the answer (the
//! `content` deltas joined).
//!
//! Known: `POST /open-apis/aily/v1/agents/:agent_id/chats` with `"stream": true`
//! answers with an event stream, for at most 5 minutes (a doc comment of the official
//! SDKs). Nothing else is official: no SDK parses it and no schema is published. The
//! event names and fields read here come from **one third-party client**, built
//! against a live reply (spec §7.3):
//!
//! | `event:` | `data:` |
//! |---|---|
//! | `start` | `{agent_chat_id, session_id?, …}`: the first event, with the ids |
//! | `message_delta` | `{agent_chat_id, delta: {type, text}}`: the answer's text is that of the `content` deltas, appended |
//! | `done` | `{agent_chat_id, status: Completed \| Failed \| Cancelled, …}` |
//! | `error` | an error object, its fields unknown (a `code` and `msg` are read when present) |
//!
//! So the reading is tolerant ([`AgentChatEvent::from_sse`]): an event name this
//! version does not know is [`AgentChatEvent::Unknown`], unknown fields are ignored,
//! and a delta that is not `content` (reasoning, tool use) is handed out but not
//! joined into the answer.
//!
//! ## The default is not this stream
//!
//! [`Client::agent_chat`](crate::Client::agent_chat) — `stream: false`, then chat
//! get 1 s → 5 s apart under a deadline — is the default way to chat with an agent,
//! and the fallback of this one: every third-party client treats chat get as the
//! authority, and so does this one. When the stream fails **after `start`** (the
//! idle timeout, the deadline, a cut, an `error` event, a malformed event, an answer
//! over [`MAX_STREAMED_ANSWER_BYTES`], the server's 5-minute cap, a `done` whose
//! status this version does not know), the chat still runs server-side:
//! [`finish`](AgentChatStream::finish) reads it with the `agent_chat_id` from `start`
//! — at once, then as [`agent_chat`] does (the same loop) — until it is terminal or
//! the deadline passes. When it fails **before `start`**, the chat's id is unknown:
//! the error says "outcome unknown" (the chat may run) and the chat is **never
//! created again**. A reply that is not a stream is branched on as on knowledge ask:
//! an error envelope, whatever its HTTP status (200 included), is that error; a JSON
//! success naming the chat (the server ran it in the background) is read with chat
//! get.
//!
//! ## Example
//!
//! Streamed, against the fake server (feature `testing`):
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use aily_client::agents::CreateAgentChatRequest;
//! use aily_client::testing::FakeAily;
//! use aily_client::{Client, Credentials};
//! use futures_util::StreamExt;
//!
//! let fake = FakeAily::start().await?;
//! fake.add_tenant_token("t-docs");
//! fake.add_agent("agent_1");
//! fake.set_agent_answer(&["Hello", ", world"]);
//! let client = Client::builder()
//!     .base_url(fake.base_url())
//!     .credentials(Credentials::tenant_token("t-docs"))
//!     .build()?;
//!
//! let mut stream = client
//!     .agent_chat_stream(CreateAgentChatRequest::new("agent_1", "Hi")?)
//!     .await?;
//! let mut shown = String::new();
//! while let Some(event) = stream.next().await {
//!     if let Some(text) = event?.content_text() {
//!         shown.push_str(text);
//!     }
//! }
//! assert!(stream.agent_chat_id().is_some(), "from `start`");
//! let answer = stream.finish().await?;
//! assert_eq!((answer.text.as_str(), shown.as_str()), ("Hello, world", "Hello, world"));
//! assert_eq!(answer.reads, 0, "the stream gave it whole");
//! # Ok(()) }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

mod artifacts;
mod attachments;
mod chats;
mod events;
mod model;
mod sessions;
mod stream;
mod wait;

pub use artifacts::{
    AgentArtifactResponse, CheckAgentVisibility, CheckAgentVisibilityRequest, GetAgentArtifact,
    GetAgentArtifactRequest, VisibilityBody, VisibilityResponse,
};
pub use attachments::{
    Attachment, MAX_DOC_URL_CHARS, MAX_FILE_BYTES, MAX_IMAGE_BYTES, UploadAgentAttachment,
    UploadAgentAttachmentRequest, UploadAgentAttachmentResponse,
};
pub use chats::{
    AgentChatBody, CreateAgentChat, CreateAgentChatRequest, CreateAgentChatResponse, GetAgentChat,
    GetAgentChatRequest, MAX_ATTACHMENTS, MAX_CONTENT_ITEMS, MAX_TEXT_CHARS, UserContent,
    UserMessage,
};
pub use events::{AgentChatEvent, DeltaType};
pub use model::{
    AgentArtifact, AgentChat, AgentChatStatus, AgentSession, AgentSessionStatus, AgentTurn,
    ArtifactType, ChatContent, ContentType, FinishReason,
};
pub use sessions::{
    AgentSessionBody, CreateAgentSession, CreateAgentSessionRequest, CreateAgentSessionResponse,
    DeleteAgentSession, DeleteAgentSessionRequest, GetAgentSession, GetAgentSessionRequest,
    ListAgentSessions, ListAgentSessionsRequest,
};
pub use stream::{AgentChatStream, MAX_STREAMED_ANSWER_BYTES};
pub use wait::{AgentChatAnswer, agent_chat};

use crate::api::request::validate_id;
use crate::error::Error;

/// An agents endpoint's error codes, 10002 meaning `$not_found` there.
macro_rules! agent_error_codes {
    ($not_found:expr) => {
        &[
            (10001, "validation failed"),
            (10002, $not_found),
            (10006, "the OpenAPI channel is off on this agent"),
            (
                10007,
                "access denied (identity type, availability, tenant or attachment owner)",
            ),
            (10008, "the tenant has not enabled the Aily OpenAPI"),
            (50001, "internal error of the agent service"),
        ]
    };
}
pub(crate) use agent_error_codes;

/// A list of IDs for a body field: at most `max`, each a valid ID.
fn check_ids<I: Into<String>>(
    field: &str,
    ids: impl IntoIterator<Item = I>,
    max: usize,
) -> Result<Vec<String>, Error> {
    let ids: Vec<String> = ids.into_iter().map(Into::into).collect();
    if ids.len() > max {
        return Err(Error::invalid_input(format!(
            "invalid {field}: at most {max} are allowed"
        )));
    }
    for id in &ids {
        validate_id(field, id)?;
    }
    Ok(ids)
}
