//! Aily sessions: the [`Session`] model and the session endpoints. [`Page`], one
//! page of a list inside a session (of messages or runs), is
//! [`crate::api::paginate`]'s, re-exported here.
//!
//! A session is the conversation that messages (see [`crate::api::messages`]) and
//! runs (see [`crate::api::runs`]) belong to.

pub mod model;
pub mod requests;

/// The page model, now [`crate::api::paginate::page`]; kept under its old path.
#[doc(hidden)]
pub use crate::api::paginate::page;
pub use crate::api::paginate::{ListEndpoint, ListResponse, Page, PageItem};
pub use model::Session;
pub use requests::{
    CreateSession, CreateSessionRequest, DeleteSession, DeleteSessionRequest,
    DeleteSessionResponse, GetSession, GetSessionRequest, SessionBody, SessionResponse,
    UpdateSession, UpdateSessionRequest,
};
