//! Aily messages: the [`Message`] model and its parts.
//!
//! A message belongs to a session (see [`crate::api::sessions`]); the user's
//! messages are the input of a run (see [`crate::api::runs`]), and a run writes the
//! assistant's answer as a message, visible while it is being written as a
//! partial [`MessageStatus::InProgress`] message.

pub mod model;
pub mod requests;

pub use model::{
    ContentType, IdentityProvider, Mention, Message, MessageFile, MessageStatus, PreviewUrl,
    Sender, SenderType,
};
pub use requests::{
    CreateMessage, CreateMessageRequest, GetMessage, GetMessageRequest, ListMessages,
    ListMessagesRequest, MessageBody, MessageResponse,
};
