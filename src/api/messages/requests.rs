//! The message endpoints: create, get, list.

use serde::{Deserialize, Serialize};

use crate::api::messages::{ContentType, Mention, Message};
use crate::api::paginate::{ListEndpoint, ListResponse};
use crate::api::request::{ApiRequest, Endpoint, check_text, validate_id};
use crate::error::Error;

crate::operation! {
    @target "aily_client::messages::requests";
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/messages`.
    pub CreateMessage = "aily.message.create", POST "/open-apis/aily/v1/sessions/{aily_session_id}/messages"
}
crate::operation! {
    @target "aily_client::messages::requests";
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/messages/{aily_message_id}`.
    pub GetMessage = "aily.message.get", GET "/open-apis/aily/v1/sessions/{aily_session_id}/messages/{aily_message_id}"
}
crate::operation! {
    @target "aily_client::messages::requests";
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}/messages`.
    pub ListMessages = "aily.message.list", GET "/open-apis/aily/v1/sessions/{aily_session_id}/messages"
}

/// Post a message to a session. Safe to retry: it carries an `idempotent_id` — the
/// caller's, or one generated once when the request is made — that every attempt
/// sends, so a retry after a lost reply never makes a second message.
///
/// ```
/// use aily_client::messages::{ContentType, CreateMessageRequest};
///
/// let req = CreateMessageRequest::new("session_1", ContentType::Text, "Hello")?;
/// let id = req.idempotent_id().to_owned();
/// assert_eq!(req.clone().idempotent_id(), id, "kept across clones, so across attempts");
/// let mine = CreateMessageRequest::new("session_1", ContentType::Mdx, "**hi**")?.with_idempotent_id("my-42")?;
/// assert_eq!(mine.idempotent_id(), "my-42");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateMessageRequest = ApiRequest<CreateMessage>;
/// Read one message.
pub type GetMessageRequest = ApiRequest<GetMessage>;
/// One page of a session's messages; [`Client::messages_stream`](crate::Client::messages_stream) follows every page.
pub type ListMessagesRequest = ApiRequest<ListMessages>;

/// The body of create message.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct MessageBody {
    /// Within a session, the same id is the same message for 72 hours.
    pub idempotent_id: String,
    /// How `content` is to be read.
    pub content_type: ContentType,
    /// The text (JSON text for `JSON`), at most 61,440 characters.
    pub content: String,
    /// IDs of uploaded files (at most 32).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_ids: Vec<String>,
    /// The message this one quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_message_id: Option<String>,
    /// Mentions in `content` (at most 32).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
}

/// The `data` of a reply carrying one message: `{"message": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MessageResponse {
    /// The message.
    pub message: Message,
}

impl Endpoint for CreateMessage {
    type Response = MessageResponse;
    type Body = MessageBody;
}

impl Endpoint for GetMessage {
    type Response = MessageResponse;
    type Body = ();
}

impl ListEndpoint for ListMessages {
    type Item = Message;
}

impl Endpoint for ListMessages {
    type Response = ListResponse<Message>;
    type Body = ();
}

const MAX_CONTENT_CHARS: usize = 61_440;
const MAX_IDEMPOTENT_ID_CHARS: usize = 64;
const MAX_LIST_ITEMS: usize = 32;

/// A fresh idempotency key: 128 random bits, hex.
fn new_idempotent_id() -> String {
    format!("aily-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

impl CreateMessageRequest {
    /// A message of `content_type` with `content` to session `session_id`, with a
    /// generated `idempotent_id`.
    pub fn new(
        session_id: impl AsRef<str>,
        content_type: ContentType,
        content: impl Into<String>,
    ) -> Result<Self, Error> {
        let content = content.into();
        check_text("content", &content, MAX_CONTENT_CHARS)?;
        let body = MessageBody {
            idempotent_id: new_idempotent_id(),
            content_type,
            content,
            file_ids: Vec::new(),
            quote_message_id: None,
            mentions: Vec::new(),
        };
        Ok(ApiRequest::with_ids(&[session_id.as_ref()])?.with_body(body))
    }

    /// Uses `id` as the `idempotent_id` (1–64 characters): the same id in the same
    /// session is the same message.
    pub fn with_idempotent_id(mut self, id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        validate_id("idempotent_id", &id)?;
        check_text("idempotent_id", &id, MAX_IDEMPOTENT_ID_CHARS)?;
        if let Some(body) = self.body_mut() {
            body.idempotent_id = id;
        }
        Ok(self)
    }

    /// The `idempotent_id` every attempt sends.
    pub fn idempotent_id(&self) -> &str {
        self.body().map_or("", |b| b.idempotent_id.as_str())
    }

    /// Attaches uploaded files (at most 32).
    pub fn with_file_ids(mut self, ids: Vec<String>) -> Result<Self, Error> {
        if ids.len() > MAX_LIST_ITEMS {
            return Err(Error::invalid_input(
                "invalid file_ids: at most 32 are allowed",
            ));
        }
        if let Some(body) = self.body_mut() {
            body.file_ids = ids;
        }
        Ok(self)
    }

    /// Mentions in the content (at most 32).
    pub fn with_mentions(mut self, mentions: Vec<Mention>) -> Result<Self, Error> {
        if mentions.len() > MAX_LIST_ITEMS {
            return Err(Error::invalid_input(
                "invalid mentions: at most 32 are allowed",
            ));
        }
        if let Some(body) = self.body_mut() {
            body.mentions = mentions;
        }
        Ok(self)
    }

    /// Quotes message `id`.
    pub fn with_quote(mut self, id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        validate_id("quote_message_id", &id)?;
        if let Some(body) = self.body_mut() {
            body.quote_message_id = Some(id);
        }
        Ok(self)
    }
}

impl GetMessageRequest {
    /// Read message `message_id` of session `session_id`.
    pub fn new(session_id: impl AsRef<str>, message_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[session_id.as_ref(), message_id.as_ref()])
    }
}

impl ListMessagesRequest {
    /// The first page of session `session_id`'s messages (the server's page size).
    pub fn new(session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[session_id.as_ref()])
    }

    /// Only the messages of run `run_id`.
    pub fn run(self, run_id: impl AsRef<str>) -> Result<Self, Error> {
        validate_id("run_id", run_id.as_ref())?;
        Ok(self.with_query("run_id", run_id))
    }

    /// Also the messages still being written (`with_partial_message=true`; `false`
    /// is sent as `false`, not dropped).
    pub fn partial(self, partial: bool) -> Self {
        self.with_query(
            "with_partial_message",
            if partial { "true" } else { "false" },
        )
    }
}
