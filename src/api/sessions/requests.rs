//! The session endpoints: create, get, update, delete. Each is its operation, its
//! constructor and its reply; [`ApiRequest`] does the rest.

use serde::de::{Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::api::request::{ApiRequest, Endpoint, check_json_text};
use crate::api::sessions::Session;
use crate::error::Error;

crate::operation! {
    @target "aily_client::sessions::requests";
    /// `POST /open-apis/aily/v1/sessions`.
    pub CreateSession = "aily.session.create", POST "/open-apis/aily/v1/sessions"
}
crate::operation! {
    @target "aily_client::sessions::requests";
    /// `GET /open-apis/aily/v1/sessions/{aily_session_id}`.
    pub GetSession = "aily.session.get", GET "/open-apis/aily/v1/sessions/{aily_session_id}"
}
crate::operation! {
    @target "aily_client::sessions::requests";
    /// `PUT /open-apis/aily/v1/sessions/{aily_session_id}`.
    pub UpdateSession = "aily.session.update", PUT "/open-apis/aily/v1/sessions/{aily_session_id}"
}
crate::operation! {
    @target "aily_client::sessions::requests";
    /// `DELETE /open-apis/aily/v1/sessions/{aily_session_id}`.
    pub DeleteSession = "aily.session.delete", DELETE "/open-apis/aily/v1/sessions/{aily_session_id}"
}

/// Create a session. Not retried after it may have reached the server (there is no
/// idempotency key: a blind retry could make a second session) unless you opt in
/// with [`with_idempotent(true)`](crate::AilyRequest::with_idempotent).
///
/// ```
/// use aily_client::sessions::CreateSessionRequest;
///
/// let req = CreateSessionRequest::new().metadata(r#"{"ticket":"T-1"}"#)?;
/// assert!(CreateSessionRequest::new().metadata("not json").is_err());
/// # let _ = req;
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateSessionRequest = ApiRequest<CreateSession>;
/// Read a session.
pub type GetSessionRequest = ApiRequest<GetSession>;
/// Change a session's `channel_context` or `metadata` (`PUT`: retried as a read).
pub type UpdateSessionRequest = ApiRequest<UpdateSession>;
/// Delete a session (`DELETE`: retried as a read).
pub type DeleteSessionRequest = ApiRequest<DeleteSession>;

/// The body of create and update session: both fields JSON text, at most 255 characters.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SessionBody {
    /// The channel context (JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_context: Option<String>,
    /// Pass-through metadata (JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// The `data` of a reply carrying one session: `{"session": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SessionResponse {
    /// The session.
    pub session: Session,
}

/// The reply to a delete: no data (`{"code":0,"msg":"success"}`; any `data` is
/// ignored). The log id is the [`Reply`](crate::layers::api_call::Reply)'s.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteSessionResponse {}

impl<'de> Deserialize<'de> for DeleteSessionResponse {
    /// Anything, `null` (no data) included: a delete says nothing but its code.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| DeleteSessionResponse {})
    }
}

impl Endpoint for CreateSession {
    type Response = SessionResponse;
    type Body = SessionBody;
    const IDEMPOTENT: bool = false;
}

impl Endpoint for GetSession {
    type Response = SessionResponse;
    type Body = ();
}

impl Endpoint for UpdateSession {
    type Response = SessionResponse;
    type Body = SessionBody;
}

impl Endpoint for DeleteSession {
    type Response = DeleteSessionResponse;
    type Body = ();
}

/// The setters of create and update session's body.
macro_rules! session_body_setters {
    ($ty:ty) => {
        impl $ty {
            /// Sets `metadata` (JSON text, at most 255 characters).
            pub fn metadata(mut self, json: impl Into<String>) -> Result<Self, Error> {
                let json = json.into();
                check_json_text("metadata", &json)?;
                if let Some(body) = self.body_mut() {
                    body.metadata = Some(json);
                }
                Ok(self)
            }

            /// Sets `channel_context` (JSON text, at most 255 characters).
            pub fn channel_context(mut self, json: impl Into<String>) -> Result<Self, Error> {
                let json = json.into();
                check_json_text("channel_context", &json)?;
                if let Some(body) = self.body_mut() {
                    body.channel_context = Some(json);
                }
                Ok(self)
            }
        }
    };
}

session_body_setters!(CreateSessionRequest);
session_body_setters!(UpdateSessionRequest);

impl CreateSessionRequest {
    /// A new session, with no `channel_context` or `metadata` yet.
    pub fn new() -> Self {
        ApiRequest::with_ids(&[])
            .expect("a template without IDs")
            .with_body(SessionBody::default())
    }
}

impl Default for CreateSessionRequest {
    fn default() -> Self {
        CreateSessionRequest::new()
    }
}

impl GetSessionRequest {
    /// Read session `session_id` (validated like every path ID).
    pub fn new(session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[session_id.as_ref()])
    }
}

impl UpdateSessionRequest {
    /// Change session `session_id`; set the fields with the setters.
    pub fn new(session_id: impl AsRef<str>) -> Result<Self, Error> {
        Ok(ApiRequest::with_ids(&[session_id.as_ref()])?.with_body(SessionBody::default()))
    }
}

impl DeleteSessionRequest {
    /// Delete session `session_id`.
    pub fn new(session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[session_id.as_ref()])
    }
}
