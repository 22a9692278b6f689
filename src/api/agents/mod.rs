//! The agents (`/open-apis/aily/v1/agents/:agent_id/…`; the `agent_…` id is in the
//! agent's URL, `aily.feishu.cn/agents/agent_…`): chats ([`CreateAgentChatRequest`],
//! [`GetAgentChatRequest`], and [`agent_chat`], which creates one and reads it until
//! it is done), sessions (create, get, list, delete), attachment upload
//! (`multipart/form-data`), artifacts, the visibility check, and the decoder of the
//! chat's event stream ([`AgentChatEvent`]).
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

mod artifacts;
mod attachments;
mod chats;
mod events;
mod model;
mod sessions;
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
