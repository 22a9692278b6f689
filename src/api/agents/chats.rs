//! Agent chats: create one ([`CreateAgentChatRequest`]) and read it
//! ([`GetAgentChatRequest`]). Without streaming a chat runs in the background: read
//! it until its status is terminal ([`agent_chat`](crate::agents::agent_chat) does).

use serde::{Deserialize, Serialize};

use crate::api::agents::model::{AgentChat, ContentType};
use crate::api::agents::{agent_error_codes, check_ids};
use crate::api::request::{ApiRequest, Endpoint, check_text, validate_id};
use crate::error::Error;

/// Most items of a message's content.
pub const MAX_CONTENT_ITEMS: usize = 100;
/// Most characters of one text item.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Most attachments of one message.
pub const MAX_ATTACHMENTS: usize = 8;

crate::operation! {
    @target "aily_client::agents::chats";
    /// `POST /open-apis/aily/v1/agents/{agent_id}/chats`.
    pub CreateAgentChat = "aily.agent_chat.create", POST "/open-apis/aily/v1/agents/{agent_id}/chats"
}
crate::operation! {
    @target "aily_client::agents::chats";
    /// `GET /open-apis/aily/v1/agents/{agent_id}/chats/{agent_chat_id}`.
    pub GetAgentChat = "aily.agent_chat.get", GET "/open-apis/aily/v1/agents/{agent_id}/chats/{agent_chat_id}"
}

/// The body of create chat.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct AgentChatBody {
    /// The user's message.
    pub user_message: UserMessage,
    /// `false`: the chat runs in the background (read it with chat get), as
    /// [`Client::agent_chat`](crate::Client::agent_chat) sends it; `true`: the reply
    /// is an event stream, as [`Client::agent_chat_stream`](crate::Client::agent_chat_stream)
    /// sends it (opt-in: its format is third-party only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Continues this session; none starts a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The user's message: its text items and attachments.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct UserMessage {
    /// The text items (1 to 100).
    pub content: Vec<UserContent>,
    /// Attachments uploaded with
    /// [`UploadAgentAttachmentRequest`](crate::agents::UploadAgentAttachmentRequest) (at most 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_attachment_ids: Option<Vec<String>>,
}

/// One item of a user message: `{type: "text", text}`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct UserContent {
    /// Always `text`.
    #[serde(rename = "type")]
    pub content_type: ContentType,
    /// The text (at most 10 000 characters).
    pub text: String,
}

/// The reply to create chat: the chat's id and its session's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CreateAgentChatResponse {
    /// The chat's id: read the chat with it.
    pub agent_chat_id: String,
    /// The session the chat is in, when sent.
    pub session_id: Option<String>,
}

impl Endpoint for CreateAgentChat {
    type Response = CreateAgentChatResponse;
    type Body = AgentChatBody;
    /// No idempotency key and no cancel: a second send makes a second chat.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] =
        agent_error_codes!("the session is not found or is another identity's");
}

impl Endpoint for GetAgentChat {
    type Response = AgentChat;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] =
        agent_error_codes!("the chat is not found or is another identity's");
}

/// `POST /open-apis/aily/v1/agents/:agent_id/chats`: ask agent `agent_id`. Never
/// retried once it may have reached the server (no idempotency key, no cancel: the
/// error then says [`may_have_acted`](crate::Error::may_have_acted)); opt in with
/// [`with_idempotent(true)`](crate::AilyRequest::with_idempotent).
///
/// ```
/// use aily_client::agents::CreateAgentChatRequest;
///
/// let req = CreateAgentChatRequest::new("agent_1", "What is the weather?")?
///     .text(" In Paris.")?
///     .session_id("conversation_1")?
///     .attachments(["agent_attachment_1"])?;
/// assert_eq!(req.body().unwrap().user_message.content.len(), 2);
/// assert!(CreateAgentChatRequest::new("agent_1", "x".repeat(10_001)).is_err());
/// assert!(CreateAgentChatRequest::new("", "hi").unwrap_err().to_string().contains("agent_id"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateAgentChatRequest = ApiRequest<CreateAgentChat>;

/// `GET /open-apis/aily/v1/agents/:agent_id/chats/:agent_chat_id`: the chat's
/// content and status now.
pub type GetAgentChatRequest = ApiRequest<GetAgentChat>;

fn text_item(text: String) -> Result<UserContent, Error> {
    if text.is_empty() {
        return Err(Error::invalid_input(
            "invalid user_message.content: a text item must not be empty",
        ));
    }
    check_text("user_message.content", &text, MAX_TEXT_CHARS)?;
    Ok(UserContent {
        content_type: ContentType::Text,
        text,
    })
}

impl CreateAgentChatRequest {
    /// A chat with agent `agent_id` whose message is `text` (1 to 10 000 characters).
    pub fn new(agent_id: impl AsRef<str>, text: impl Into<String>) -> Result<Self, Error> {
        let item = text_item(text.into())?;
        let body = AgentChatBody {
            user_message: UserMessage {
                content: vec![item],
                agent_attachment_ids: None,
            },
            stream: None,
            session_id: None,
        };
        Ok(ApiRequest::with_ids(&[agent_id.as_ref()])?.with_body(body))
    }

    /// Adds a text item (at most 100 items, each 1 to 10 000 characters).
    pub fn text(mut self, text: impl Into<String>) -> Result<Self, Error> {
        let item = text_item(text.into())?;
        if let Some(body) = self.body_mut() {
            if body.user_message.content.len() >= MAX_CONTENT_ITEMS {
                return Err(Error::invalid_input(format!(
                    "invalid user_message.content: at most {MAX_CONTENT_ITEMS} items are allowed"
                )));
            }
            body.user_message.content.push(item);
        }
        Ok(self)
    }

    /// Continues session `session_id` (validated like every ID).
    pub fn session_id(mut self, session_id: impl Into<String>) -> Result<Self, Error> {
        let session_id = session_id.into();
        validate_id("session_id", &session_id)?;
        if let Some(body) = self.body_mut() {
            body.session_id = Some(session_id);
        }
        Ok(self)
    }

    /// Attaches uploaded attachments (at most 8, each a valid ID), replacing any set before.
    pub fn attachments<I: Into<String>>(
        mut self,
        ids: impl IntoIterator<Item = I>,
    ) -> Result<Self, Error> {
        let ids = check_ids("agent_attachment_ids", ids, MAX_ATTACHMENTS)?;
        if let Some(body) = self.body_mut() {
            body.user_message.agent_attachment_ids = Some(ids);
        }
        Ok(self)
    }

    /// Sets `stream: false` (the chat runs in the background), as [`agent_chat`](crate::agents::agent_chat) sends it.
    pub(crate) fn in_background(mut self) -> Self {
        if let Some(body) = self.body_mut() {
            body.stream = Some(false);
        }
        self
    }

    /// Sets `stream: true` (the reply is an event stream), as
    /// [`Client::agent_chat_stream`](crate::Client::agent_chat_stream) sends it.
    pub(crate) fn streamed(mut self) -> Self {
        if let Some(body) = self.body_mut() {
            body.stream = Some(true);
        }
        self
    }

    /// The agent this chat is for.
    pub fn agent_id(&self) -> &str {
        self.id(0)
    }
}

impl GetAgentChatRequest {
    /// Read chat `agent_chat_id` of agent `agent_id`.
    pub fn new(agent_id: impl AsRef<str>, agent_chat_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[agent_id.as_ref(), agent_chat_id.as_ref()])
    }
}
