//! The agents' models: [`AgentChat`] (a chat's content and status),
//! [`AgentSession`] with its [`AgentTurn`]s, [`AgentArtifact`], and their open
//! enums. Decoding is lenient: every field may be missing, unknown fields are
//! ignored, timestamps may be strings or numbers ([`Timestamp`] keeps the text),
//! `turns` may be one object or a list, and an enum value this version does not
//! know is kept as `Unknown(String)`.

use serde::{Deserialize, Serialize};

use crate::api::paginate::PageItem;
use crate::api::runs::Timestamp;
use crate::api::wire::{null_as_default, one_or_many, wire_enum};

wire_enum! {
    /// The status of an agent chat. Unknown values are kept and are not terminal.
    ///
    /// ```
    /// use aily_client::agents::AgentChatStatus;
    /// let s: AgentChatStatus = serde_json::from_str("\"Running\"").unwrap();
    /// assert!(!s.is_terminal());
    /// assert!(AgentChatStatus::from("Completed").is_terminal());
    /// assert_eq!(AgentChatStatus::from("Paused"), AgentChatStatus::Unknown("Paused".into()));
    /// ```
    pub enum AgentChatStatus ("an agent chat status string") {
        /// `Queued`: waiting to run.
        Queued = "Queued",
        /// `Running`: running.
        Running = "Running",
        /// `Completed`: answered (terminal).
        Completed = "Completed",
        /// `Failed`: failed (terminal).
        Failed = "Failed",
        /// `Cancelled`: cancelled (terminal).
        Cancelled = "Cancelled",
    }
}

impl AgentChatStatus {
    /// True for `Completed`, `Failed` and `Cancelled`; a status this version does not
    /// know is not terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            AgentChatStatus::Completed | AgentChatStatus::Failed | AgentChatStatus::Cancelled
        )
    }
}

wire_enum! {
    /// The status of an agent session (`opening` is the one value seen).
    pub enum AgentSessionStatus ("an agent session status string") {
        /// `opening`: open for chats.
        Opening = "opening",
    }
}

wire_enum! {
    /// Why an agent chat's answer ended (`stop` is the one value seen).
    pub enum FinishReason ("a finish reason string") {
        /// `stop`: the answer is complete.
        Stop = "stop",
    }
}

wire_enum! {
    /// The kind of an artifact in a chat's content (`sandbox_file` is the one value seen).
    pub enum ArtifactType ("an artifact type string") {
        /// `sandbox_file`: a file the agent made.
        SandboxFile = "sandbox_file",
    }
}

wire_enum! {
    /// The type of a content item (`text` is the one documented value).
    pub enum ContentType ("a content type string") {
        /// `text`: a text item.
        Text = "text",
    }
}

/// A chat as chat get returns it: its content so far, its status, why it ended.
///
/// ```
/// let chat: aily_client::agents::AgentChat = serde_json::from_str(r#"{
///     "status": "Completed", "finish_reason": "stop",
///     "content": [{"type": "text", "text": "Hello"}, {"agent_artifact_id": "a1", "artifact_type": "sandbox_file"},
///                 {"type": "text", "text": ", world"}]
/// }"#).unwrap();
/// assert_eq!(chat.text(), "Hello, world");
/// assert_eq!(chat.content[1].agent_artifact_id.as_deref(), Some("a1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentChat {
    /// The content items, in order: text and artifacts.
    #[serde(deserialize_with = "null_as_default")]
    pub content: Vec<ChatContent>,
    /// Why the answer ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// The chat's status.
    pub status: AgentChatStatus,
}

impl AgentChat {
    /// The text of the `text` items, joined in order (artifacts left out).
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter(|c| c.content_type == ContentType::Text)
            .filter_map(|c| c.text.as_deref())
            .collect()
    }
}

/// One item of a chat's content: text, or an artifact the agent made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChatContent {
    /// The item's type (`text`; `Unknown("")` when missing).
    #[serde(rename = "type")]
    pub content_type: ContentType,
    /// The text, for a text item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The artifact's id ([`GetAgentArtifactRequest`](crate::agents::GetAgentArtifactRequest) reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_artifact_id: Option<String>,
    /// The artifact's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<ArtifactType>,
}

/// An agent session. Timestamps are Unix milliseconds, as strings or numbers.
///
/// ```
/// let one: aily_client::agents::AgentSession = serde_json::from_str(r#"{
///     "session_id": "conversation_1", "status": "opening", "created_at": "1711975665710",
///     "turns": {"agent_chat_id": "c1", "created_at": 1711975665710.0, "status": "Completed"}
/// }"#).unwrap();
/// assert_eq!(one.turns.len(), 1);
/// assert_eq!(one.turns[0].created_at.as_ref().unwrap().millis(), Some(1711975665710));
/// let many: aily_client::agents::AgentSession =
///     serde_json::from_str(r#"{"session_id": "c", "turns": [{"agent_chat_id": "a"}, {"agent_chat_id": "b"}]}"#).unwrap();
/// assert_eq!(many.turns.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentSession {
    /// The session's id (`conversation_…`).
    pub session_id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: AgentSessionStatus,
    /// When it was created.
    pub created_at: Option<Timestamp>,
    /// When its last chat was made.
    pub last_chat_at: Option<Timestamp>,
    /// Its chats (one object or a list on the wire; none on a list reply).
    #[serde(deserialize_with = "one_or_many")]
    pub turns: Vec<AgentTurn>,
}

impl PageItem for AgentSession {
    const LIST_FIELD: &'static str = "sessions";
}

/// One chat of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentTurn {
    /// The chat's id.
    pub agent_chat_id: String,
    /// When it was made.
    pub created_at: Option<Timestamp>,
    /// Its status.
    pub status: AgentChatStatus,
}

/// An artifact an agent made: its name and a download URL valid for 24 hours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentArtifact {
    /// The artifact's id.
    pub artifact_id: String,
    /// Its name.
    pub name: String,
    /// Where to download it (valid 24 h).
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_on_missing_null_and_unknown() {
        let chat: AgentChat =
            serde_json::from_str(r#"{"content": null, "status": "Thinking", "x": 1}"#).unwrap();
        assert!(chat.content.is_empty());
        assert_eq!(chat.status, AgentChatStatus::Unknown("Thinking".into()));
        assert!(!chat.status.is_terminal());
        let session: AgentSession =
            serde_json::from_str(r#"{"session_id": "s", "turns": null, "last_chat_at": 5}"#)
                .unwrap();
        assert!(session.turns.is_empty());
        assert_eq!(session.last_chat_at.unwrap().as_str(), "5");
        assert_eq!(session.status, AgentSessionStatus::default());
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        assert!(serde_json::from_str::<AgentChat>(r#"{"status": 3}"#).is_err());
        assert!(serde_json::from_str::<AgentChat>(r#"{"content": {"a": 1}}"#).is_err());
        assert!(serde_json::from_str::<AgentSession>(r#"{"turns": 5}"#).is_err());
        assert!(serde_json::from_str::<AgentSession>(r#"{"created_at": {}}"#).is_err());
    }
}
