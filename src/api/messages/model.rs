//! The Aily message as the API returns it: [`Message`], its [`ContentType`],
//! [`MessageStatus`], [`Sender`], [`Mention`]s and [`MessageFile`]s.
//!
//! Decoding is lenient like [`Run`](crate::Run): every field may be missing
//! (lists may also be `null`), unknown fields are ignored, timestamps are
//! strings of Unix milliseconds (a JSON number is accepted too), and an enum
//! value this version does not know is kept in its `Unknown` variant. A value
//! of the wrong JSON type is a decoding error, never a panic.
//!
//! One timestamp is different: a file's [`PreviewUrl::expired_at`] is in
//! **seconds**; read it with [`PreviewUrl::expired_at_secs`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::api::paginate::PageItem;
use crate::api::runs::Timestamp;
use crate::api::wire::{self, wire_enum};

wire_enum! {
    /// How a message's `content` is to be read. Unknown values are kept.
    ///
    /// ```
    /// use aily_client::messages::ContentType;
    ///
    /// let t: ContentType = serde_json::from_str("\"SmartCard\"").unwrap();
    /// assert_eq!(t, ContentType::SmartCard);
    /// assert_eq!(ContentType::from("VIDEO"), ContentType::Unknown("VIDEO".into()));
    /// assert_eq!(ContentType::Mdx.as_str(), "MDX");
    /// ```
    pub enum ContentType ("a content type string") {
        /// `MDX`: Markdown with components.
        Mdx = "MDX",
        /// `TEXT`: plain text.
        Text = "TEXT",
        /// `CLIP`: a clip.
        Clip = "CLIP",
        /// `SmartCard`: a smart card.
        SmartCard = "SmartCard",
        /// `JSON`: `content` is JSON text; see [`Message::content_json`].
        Json = "JSON",
    }
}

wire_enum! {
    /// Whether a message is complete. Unknown values are kept.
    ///
    /// ```
    /// use aily_client::messages::MessageStatus;
    ///
    /// let s: MessageStatus = serde_json::from_str("\"IN_PROGRESS\"").unwrap();
    /// assert_eq!(s, MessageStatus::InProgress);
    /// assert_eq!(s.to_string(), "IN_PROGRESS");
    /// ```
    pub enum MessageStatus ("a message status string") {
        /// `IN_PROGRESS`: still being written (only listed with
        /// `with_partial_message=true`); `content` is what is written so far.
        InProgress = "IN_PROGRESS",
        /// `COMPLETED`: complete.
        Completed = "COMPLETED",
    }
}

wire_enum! {
    /// Which identity system an entity id belongs to. Unknown values are kept.
    ///
    /// ```
    /// use aily_client::messages::IdentityProvider;
    /// assert_eq!(IdentityProvider::from("FEISHU"), IdentityProvider::Feishu);
    /// ```
    pub enum IdentityProvider ("an identity provider string") {
        /// `AILY`: an Aily entity.
        Aily = "AILY",
        /// `FEISHU`: a Feishu user.
        Feishu = "FEISHU",
    }
}

wire_enum! {
    /// Who wrote a message. Unknown values are kept.
    ///
    /// ```
    /// use aily_client::messages::SenderType;
    /// assert_eq!(SenderType::from("ASSISTANT"), SenderType::Assistant);
    /// ```
    pub enum SenderType ("a sender type string") {
        /// `USER`: the end user.
        User = "USER",
        /// `ASSISTANT`: the Aily app.
        Assistant = "ASSISTANT",
    }
}

/// One message of a session, from the user or from the assistant.
///
/// ```
/// use aily_client::messages::{ContentType, Message, MessageStatus, SenderType};
///
/// let message: Message = serde_json::from_str(r#"{
///     "id": "message_4df45twqdr6ph", "session_id": "session_4dfunz7sp1g8m",
///     "run_id": "run_4dfrxvctjqzzj", "content_type": "MDX", "content": "Hello",
///     "plain_text": "Hello", "created_at": "1711975665710", "status": "COMPLETED",
///     "sender": {"entity_id": "spring_xxx__c", "identity_provider": "AILY",
///                "sender_type": "ASSISTANT", "aily_id": "aily_1"},
///     "mentions": [], "files": null, "something_new": 1
/// }"#).unwrap();
/// assert_eq!(message.content_type, ContentType::Mdx);
/// assert_eq!(message.status, MessageStatus::Completed);
/// assert!(message.is_from_assistant());
/// assert!(message.files.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The message's ID, e.g. `message_4df45twqdr6ph`.
    #[serde(default)]
    pub id: String,
    /// The session's ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The run that wrote it (assistant messages) or that it was input to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// How to read [`content`](Message::content).
    #[serde(default)]
    pub content_type: ContentType,
    /// The content as sent (for `JSON`, JSON text; see [`Message::content_json`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The content as plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_text: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Complete, or still being written.
    #[serde(default)]
    pub status: MessageStatus,
    /// The ID of the message this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_message_id: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    /// The entities it mentions.
    #[serde(
        default,
        deserialize_with = "wire::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mentions: Vec<Mention>,
    /// The files attached to it.
    #[serde(
        default,
        deserialize_with = "wire::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub files: Vec<MessageFile>,
    /// The assistant's reasoning, when the app shares it (newer replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl Message {
    /// Parses [`content`](Message::content) as JSON (meaningful for
    /// [`ContentType::Json`]). `None` when there is no content.
    pub fn content_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        wire::json_text(self.content.as_deref())
    }

    /// Whether the sender is the assistant (the Aily app).
    pub fn is_from_assistant(&self) -> bool {
        self.sender
            .as_ref()
            .is_some_and(|s| s.sender_type == SenderType::Assistant)
    }

    /// Whether the message is still being written (`IN_PROGRESS`).
    pub fn is_partial(&self) -> bool {
        self.status == MessageStatus::InProgress
    }
}

impl PageItem for Message {
    const LIST_FIELD: &'static str = "messages";
}

/// Who wrote a message.
///
/// ```
/// use aily_client::messages::{IdentityProvider, Sender, SenderType};
///
/// let sender: Sender = serde_json::from_str(
///     r#"{"entity_id": "ou_1", "identity_provider": "FEISHU", "sender_type": "USER"}"#,
/// ).unwrap();
/// assert_eq!(sender.identity_provider, IdentityProvider::Feishu);
/// assert_eq!(sender.sender_type, SenderType::User);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sender {
    /// The sender's ID in its identity system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The identity system of `entity_id`.
    #[serde(default)]
    pub identity_provider: IdentityProvider,
    /// User or assistant.
    #[serde(default)]
    pub sender_type: SenderType,
    /// The sender's Aily ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aily_id: Option<String>,
}

/// An entity mentioned in a message (also what a new message's `mentions`
/// list holds; build one with [`Mention::new`]).
///
/// ```
/// use aily_client::messages::{IdentityProvider, Mention};
///
/// let mention = Mention::new("ou_1", IdentityProvider::Feishu, "@_user_1", "Ada");
/// let json = serde_json::to_value(&mention).unwrap();
/// assert_eq!(json["key"], "@_user_1");
/// assert_eq!(json["identity_provider"], "FEISHU");
/// assert!(json.get("aily_id").is_none());
/// let with_aily = mention.with_aily_id("aily_1");
/// assert_eq!(with_aily.aily_id.as_deref(), Some("aily_1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Mention {
    /// The entity's ID in its identity system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The identity system of `entity_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<IdentityProvider>,
    /// The placeholder in the content, e.g. `@_user_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The entity's Aily ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aily_id: Option<String>,
}

impl Mention {
    /// A mention of `entity_id` (in `identity_provider`), written `key` in
    /// the content (e.g. `@_user_1`) and shown as `name`.
    pub fn new(
        entity_id: impl Into<String>,
        identity_provider: IdentityProvider,
        key: impl Into<String>,
        name: impl Into<String>,
    ) -> Mention {
        Mention {
            entity_id: Some(entity_id.into()),
            identity_provider: Some(identity_provider),
            key: Some(key.into()),
            name: Some(name.into()),
            aily_id: None,
        }
    }

    /// The same mention with the entity's Aily ID.
    pub fn with_aily_id(mut self, aily_id: impl Into<String>) -> Mention {
        self.aily_id = Some(aily_id.into());
        self
    }
}

/// A file attached to a message.
///
/// ```
/// use aily_client::messages::MessageFile;
///
/// let file: MessageFile = serde_json::from_str(r#"{
///     "id": "file_1", "mime_type": "image/png", "file_name": "a.png",
///     "metadata": "{}", "created_at": "1711975665710",
///     "preview_url": {"url": "https://example.com/a.png", "expired_at": "1711979265"}
/// }"#).unwrap();
/// assert_eq!(file.preview_url.unwrap().expired_at_secs(), Some(1711979265));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageFile {
    /// The file's ID.
    #[serde(default)]
    pub id: String,
    /// Its MIME type, e.g. `image/png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Metadata: a string holding JSON. See [`MessageFile::metadata_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// When it was uploaded (Unix milliseconds, like other timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// A temporary URL to preview it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<PreviewUrl>,
}

impl MessageFile {
    /// Parses [`metadata`](MessageFile::metadata), a string holding JSON.
    /// `None` when there is none.
    pub fn metadata_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        wire::json_text(self.metadata.as_deref())
    }
}

/// A temporary preview URL of a file.
///
/// Its `expired_at` is in **seconds** since the Unix epoch, unlike every
/// other timestamp of the API (milliseconds), so it is kept as raw text and
/// not as a [`Timestamp`]: read it with [`expired_at_secs`](Self::expired_at_secs)
/// or [`expires_at`](Self::expires_at).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aily_client::messages::PreviewUrl;
///
/// let url: PreviewUrl = serde_json::from_str(
///     r#"{"url": "https://example.com/p", "expired_at": 1711979265}"#, // a number is accepted
/// ).unwrap();
/// assert_eq!(url.expired_at.as_deref(), Some("1711979265"));
/// assert_eq!(url.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(1711979265)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreviewUrl {
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the URL stops working, in **seconds** since the Unix epoch, as
    /// sent (a number is accepted and kept as text).
    #[serde(
        default,
        deserialize_with = "wire::opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub expired_at: Option<String>,
}

impl PreviewUrl {
    /// [`expired_at`](Self::expired_at) as **seconds** since the Unix epoch,
    /// if it is a non-negative integer.
    pub fn expired_at_secs(&self) -> Option<u64> {
        self.expired_at.as_deref()?.trim().parse().ok()
    }

    /// When the URL stops working, reading `expired_at` as seconds.
    pub fn expires_at(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_secs(self.expired_at_secs()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_message() -> serde_json::Value {
        json!({
            "id": "message_4df45twqdr6ph",
            "session_id": "session_4dfunz7sp1g8m",
            "run_id": "run_4dfrxvctjqzzj",
            "content_type": "JSON",
            "content": "{\"answer\":42}",
            "plain_text": "42",
            "created_at": "1711975665710",
            "status": "IN_PROGRESS",
            "quote_message_id": "message_1",
            "sender": {"entity_id": "ou_1", "identity_provider": "FEISHU",
                       "sender_type": "USER", "aily_id": "aily_1"},
            "mentions": [{"entity_id": "ou_2", "identity_provider": "FEISHU",
                          "key": "@_user_1", "name": "Ada", "aily_id": "aily_2"}],
            "files": [{"id": "file_1", "mime_type": "text/plain", "file_name": "a.txt",
                       "metadata": "{\"pages\":3}", "created_at": "1711975665710",
                       "preview_url": {"url": "https://example.com/a", "expired_at": "1711979265"}}],
            "reasoning_content": "thinking"
        })
    }

    #[test]
    fn spec_example_decodes_and_round_trips() {
        let value = full_message();
        let message: Message = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(message.content_type, ContentType::Json);
        assert_eq!(message.content_json().unwrap().unwrap()["answer"], 42);
        assert!(message.is_partial());
        assert!(!message.is_from_assistant());
        let sender = message.sender.as_ref().unwrap();
        assert_eq!(sender.identity_provider, IdentityProvider::Feishu);
        assert_eq!(sender.sender_type, SenderType::User);
        assert_eq!(message.mentions[0].key.as_deref(), Some("@_user_1"));
        let file = &message.files[0];
        assert_eq!(file.metadata_json().unwrap().unwrap()["pages"], 3);
        let preview = file.preview_url.as_ref().unwrap();
        assert_eq!(preview.expired_at_secs(), Some(1_711_979_265));
        assert_eq!(
            preview.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_711_979_265))
        );
        // The file's created_at stays in milliseconds.
        assert_eq!(
            file.created_at.as_ref().and_then(Timestamp::millis),
            Some(1_711_975_665_710)
        );
        assert_eq!(serde_json::to_value(&message).unwrap(), value);
    }

    #[test]
    fn every_known_value_round_trips() {
        for s in ["MDX", "TEXT", "CLIP", "SmartCard", "JSON"] {
            let t = ContentType::from(s);
            assert!(!matches!(t, ContentType::Unknown(_)), "{s}");
            assert_eq!(serde_json::to_value(&t).unwrap(), s);
        }
        for s in ["IN_PROGRESS", "COMPLETED"] {
            assert!(!matches!(MessageStatus::from(s), MessageStatus::Unknown(_)));
        }
        assert_eq!(IdentityProvider::from("AILY").as_str(), "AILY");
        assert_eq!(SenderType::from("USER").as_str(), "USER");
        // Case matters: the wire values are exact.
        assert_eq!(ContentType::from("mdx"), ContentType::Unknown("mdx".into()));
    }

    #[test]
    fn lenient_on_missing_and_unknown() {
        let message: Message = serde_json::from_str(
            r#"{"content_type":"VIDEO","status":"PAUSED","mentions":null,
            "sender":{"sender_type":"BOT"},"created_at":1711975665710,"new":true}"#,
        )
        .unwrap();
        assert_eq!(message.id, "");
        assert_eq!(message.content_type, ContentType::Unknown("VIDEO".into()));
        assert_eq!(message.status, MessageStatus::Unknown("PAUSED".into()));
        assert_eq!(message.status.as_str(), "PAUSED");
        let sender = message.sender.unwrap();
        assert_eq!(sender.sender_type, SenderType::Unknown("BOT".into()));
        assert_eq!(sender.identity_provider, IdentityProvider::default());
        assert!(message.mentions.is_empty());
        assert_eq!(
            message.created_at.and_then(|t| t.millis()),
            Some(1711975665710)
        );
        let empty: Message = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.status, MessageStatus::Unknown(String::new()));
        assert!(empty.content_json().is_none());
        let preview: PreviewUrl = serde_json::from_str(r#"{"expired_at":"soon"}"#).unwrap();
        assert_eq!(preview.expired_at_secs(), None);
        assert_eq!(preview.expires_at(), None);
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for (field, value) in [
            ("id", json!(12)),
            ("content_type", json!(1)),
            ("status", json!(true)),
            ("sender", json!("ou_1")),
            ("mentions", json!({"key": "x"})),
            ("files", json!([1])),
            ("created_at", json!({"ms": 1})),
            ("content", json!({"text": "hi"})),
        ] {
            let mut message = full_message();
            message[field] = value;
            assert!(
                serde_json::from_value::<Message>(message).is_err(),
                "{field}"
            );
        }
        assert!(serde_json::from_str::<PreviewUrl>(r#"{"expired_at":[1]}"#).is_err());
        assert!(serde_json::from_str::<Message>("\"text\"").is_err());
    }

    #[test]
    fn a_page_of_messages_decodes() {
        use crate::api::paginate::Page;
        let page: Page<Message> = serde_json::from_value(json!({
            "messages": [full_message()], "has_more": false
        }))
        .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next_page_token(), None);
    }
}
