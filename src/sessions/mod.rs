//! Aily sessions: the [`Session`] model, and [`Page`], one page of a list
//! inside a session (of messages or runs).
//!
//! A session is the conversation that messages (see [`crate::messages`]) and
//! runs (see [`crate::runs`]) belong to.

pub mod model;
pub mod page;
pub mod requests;
pub(crate) mod wire;

pub use model::Session;
pub use page::{ListEndpoint, ListResponse, Page, PageItem};
pub use requests::{
    CreateSession, CreateSessionRequest, DeleteSession, DeleteSessionRequest,
    DeleteSessionResponse, GetSession, GetSessionRequest, SessionBody, SessionResponse,
    UpdateSession, UpdateSessionRequest,
};
