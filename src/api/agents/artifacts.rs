//! An agent's artifacts ([`GetAgentArtifactRequest`]) and whether the token's user
//! may see the agent ([`CheckAgentVisibilityRequest`]).

use serde::{Deserialize, Serialize};

use crate::api::agents::agent_error_codes;
use crate::api::agents::model::AgentArtifact;
use crate::api::request::{ApiRequest, Endpoint};
use crate::api::wire::LenientBool;
use crate::error::Error;

crate::operation! {
    @target "aily_client::agents::artifacts";
    /// `GET /open-apis/aily/v1/agents/{agent_id}/artifacts/{agent_artifact_id}`.
    pub GetAgentArtifact = "aily.agent_artifact.get", GET "/open-apis/aily/v1/agents/{agent_id}/artifacts/{agent_artifact_id}"
}
crate::operation! {
    @target "aily_client::agents::artifacts";
    /// `POST /open-apis/aily/v1/agents/{agent_id}/agent_visibility/check`.
    pub CheckAgentVisibility = "aily.agent_visibility.check", POST "/open-apis/aily/v1/agents/{agent_id}/agent_visibility/check"
}

/// The reply to artifact get.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentArtifactResponse {
    /// The artifact.
    pub agent_artifact: AgentArtifact,
}

/// The body of the visibility check: `{channel_type: "web_sdk"}`, the one value.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct VisibilityBody {
    /// Always `web_sdk`.
    pub channel_type: &'static str,
}

/// The reply to the visibility check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VisibilityResponse {
    /// Whether the token's user may see the agent.
    pub visibility: bool,
}

impl<'de> Deserialize<'de> for VisibilityResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            visibility: Option<LenientBool>,
        }
        let wire = Wire::deserialize(d)?;
        Ok(VisibilityResponse {
            visibility: wire.visibility.is_some_and(|v| v.0),
        })
    }
}

impl Endpoint for GetAgentArtifact {
    type Response = AgentArtifactResponse;
    type Body = ();
    const ERROR_CODES: &'static [(i64, &'static str)] =
        agent_error_codes!("the artifact is not found or is another identity's");
}

impl Endpoint for CheckAgentVisibility {
    type Response = VisibilityResponse;
    type Body = VisibilityBody;
    /// A read in effect: changes nothing.
    const IDEMPOTENT: bool = true;
    const ERROR_CODES: &'static [(i64, &'static str)] =
        agent_error_codes!("the agent's resource is not found");
}

/// `GET /open-apis/aily/v1/agents/:agent_id/artifacts/:agent_artifact_id`: an
/// artifact's name and download URL (valid 24 h).
///
/// ```
/// let req = aily_client::agents::GetAgentArtifactRequest::new("agent_1", "artifact#1")?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/agents/agent_1/artifacts/artifact%231");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type GetAgentArtifactRequest = ApiRequest<GetAgentArtifact>;

/// `POST /open-apis/aily/v1/agents/:agent_id/agent_visibility/check`: whether the
/// token's user may see the agent (a **user token** call). Retried as a read.
pub type CheckAgentVisibilityRequest = ApiRequest<CheckAgentVisibility>;

impl GetAgentArtifactRequest {
    /// Read artifact `artifact_id` of agent `agent_id`.
    pub fn new(agent_id: impl AsRef<str>, artifact_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[agent_id.as_ref(), artifact_id.as_ref()])
    }
}

impl CheckAgentVisibilityRequest {
    /// Check agent `agent_id` for the web SDK channel.
    pub fn new(agent_id: impl AsRef<str>) -> Result<Self, Error> {
        Ok(
            ApiRequest::with_ids(&[agent_id.as_ref()])?.with_body(VisibilityBody {
                channel_type: "web_sdk",
            }),
        )
    }
}
