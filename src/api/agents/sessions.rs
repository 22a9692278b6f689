//! Agent sessions: create, get, list (pages with `next_page_token`) and delete.

use serde::{Deserialize, Serialize};

use crate::api::agents::agent_error_codes;
use crate::api::agents::model::AgentSession;
use crate::api::paginate::{ListEndpoint, ListResponse};
use crate::api::request::{ApiRequest, Endpoint, check_text};
use crate::api::runs::Timestamp;
use crate::api::sessions::DeleteSessionResponse;
use crate::error::Error;

crate::operation! {
    @target "aily_client::agents::sessions";
    /// `POST /open-apis/aily/v1/agents/{agent_id}/sessions`.
    pub CreateAgentSession = "aily.agent_session.create", POST "/open-apis/aily/v1/agents/{agent_id}/sessions"
}
crate::operation! {
    @target "aily_client::agents::sessions";
    /// `GET /open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}`.
    pub GetAgentSession = "aily.agent_session.get", GET "/open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}"
}
crate::operation! {
    @target "aily_client::agents::sessions";
    /// `GET /open-apis/aily/v1/agents/{agent_id}/sessions`.
    pub ListAgentSessions = "aily.agent_session.list", GET "/open-apis/aily/v1/agents/{agent_id}/sessions"
}
crate::operation! {
    @target "aily_client::agents::sessions";
    /// `DELETE /open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}`.
    pub DeleteAgentSession = "aily.agent_session.delete", DELETE "/open-apis/aily/v1/agents/{agent_id}/sessions/{agent_chat_session_id}"
}

const SESSION_NOT_FOUND: &str = "the session is not found or is another identity's";

/// The body of create session.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct AgentSessionBody {
    /// The session's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The reply to create session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CreateAgentSessionResponse {
    /// The new session's id.
    pub session_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// When it was created (a string or a number on the wire).
    pub created_at: Option<Timestamp>,
}

impl Endpoint for CreateAgentSession {
    type Response = CreateAgentSessionResponse;
    type Body = AgentSessionBody;
    /// No idempotency key: a second send makes a second session.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] = agent_error_codes!(SESSION_NOT_FOUND);
}

impl Endpoint for GetAgentSession {
    type Response = AgentSession;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = agent_error_codes!(SESSION_NOT_FOUND);
}

impl Endpoint for ListAgentSessions {
    type Response = ListResponse<AgentSession>;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = agent_error_codes!(SESSION_NOT_FOUND);
}

impl ListEndpoint for ListAgentSessions {
    type Item = AgentSession;
}

impl Endpoint for DeleteAgentSession {
    type Response = DeleteSessionResponse;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] = agent_error_codes!(SESSION_NOT_FOUND);
}

/// `POST /open-apis/aily/v1/agents/:agent_id/sessions`: a new session of the agent.
/// Not retried once it may have reached the server unless you opt in.
///
/// ```
/// use aily_client::agents::CreateAgentSessionRequest;
/// let req = CreateAgentSessionRequest::new("agent_1")?.name("Support")?;
/// assert_eq!(req.body().unwrap().name.as_deref(), Some("Support"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateAgentSessionRequest = ApiRequest<CreateAgentSession>;
/// `GET /open-apis/aily/v1/agents/:agent_id/sessions/:agent_chat_session_id`.
pub type GetAgentSessionRequest = ApiRequest<GetAgentSession>;
/// `GET /open-apis/aily/v1/agents/:agent_id/sessions`: one page of the agent's
/// sessions ([`page_size`](ApiRequest::page_size), [`page_token`](ApiRequest::page_token));
/// the reply's `next_page_token` is read as the next page's token.
pub type ListAgentSessionsRequest = ApiRequest<ListAgentSessions>;
/// `DELETE /open-apis/aily/v1/agents/:agent_id/sessions/:agent_chat_session_id`.
pub type DeleteAgentSessionRequest = ApiRequest<DeleteAgentSession>;

impl CreateAgentSessionRequest {
    /// A new session of agent `agent_id`, unnamed.
    pub fn new(agent_id: impl AsRef<str>) -> Result<Self, Error> {
        Ok(ApiRequest::with_ids(&[agent_id.as_ref()])?.with_body(AgentSessionBody::default()))
    }

    /// Names the session (at most 255 characters).
    pub fn name(mut self, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        check_text("name", &name, 255)?;
        if let Some(body) = self.body_mut() {
            body.name = Some(name);
        }
        Ok(self)
    }
}

impl GetAgentSessionRequest {
    /// Read session `session_id` of agent `agent_id`.
    pub fn new(agent_id: impl AsRef<str>, session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[agent_id.as_ref(), session_id.as_ref()])
    }
}

impl ListAgentSessionsRequest {
    /// The first page of agent `agent_id`'s sessions.
    pub fn new(agent_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[agent_id.as_ref()])
    }
}

impl DeleteAgentSessionRequest {
    /// Delete session `session_id` of agent `agent_id`.
    pub fn new(agent_id: impl AsRef<str>, session_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[agent_id.as_ref(), session_id.as_ref()])
    }
}
