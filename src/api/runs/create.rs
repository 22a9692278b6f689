//! Create a run: [`CreateRunRequest`].

use serde::Serialize;

use crate::api::request::{ApiRequest, Endpoint, check_json_text, check_text, validate_id};
use crate::api::runs::RunResponse;
use crate::error::Error;

crate::operation! {
    @target "aily_client::runs::create";
    /// `POST /open-apis/aily/v1/sessions/{aily_session_id}/runs`.
    pub CreateRun = "aily.run.create", POST "/open-apis/aily/v1/sessions/{aily_session_id}/runs"
}

/// Start a run of Aily app `app_id` on a session. Not retried after it may have
/// reached the server (no idempotency key: a blind retry could start a second run
/// once the first has ended); the error then says so
/// ([`Error::may_have_acted`](crate::Error::may_have_acted)) — list the session's
/// runs (put your own request id in `metadata` to find yours). Opt in to retries
/// with [`with_idempotent(true)`](crate::AilyRequest::with_idempotent).
///
/// ```
/// use aily_client::runs::CreateRunRequest;
///
/// let req = CreateRunRequest::new("session_1", "spring_xxx__c")?
///     .skill("skill_1", Some(r#"{"q":"hi"}"#))?
///     .metadata(r#"{"request_id":"r-42"}"#)?;
/// # let _ = req;
/// assert!(CreateRunRequest::new("session_1", "").is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type CreateRunRequest = ApiRequest<CreateRun>;

/// The body of create run.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RunBody {
    /// The Aily app (`spring_…__c`, not the Feishu `cli_…` app id), at most 64 characters.
    pub app_id: String,
    /// Runs this skill, skipping intent matching (at most 32 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_id: Option<String>,
    /// The skill's input (JSON text), only with `skill_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_input: Option<String>,
    /// Pass-through metadata (JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

impl Endpoint for CreateRun {
    type Response = RunResponse;
    type Body = RunBody;
    const IDEMPOTENT: bool = false;
}

impl CreateRunRequest {
    /// A run of Aily app `app_id` on session `session_id`.
    pub fn new(session_id: impl AsRef<str>, app_id: impl Into<String>) -> Result<Self, Error> {
        let app_id = app_id.into();
        validate_id("app_id", &app_id)?;
        check_text("app_id", &app_id, 64)?;
        let body = RunBody {
            app_id,
            skill_id: None,
            skill_input: None,
            metadata: None,
        };
        Ok(ApiRequest::with_ids(&[session_id.as_ref()])?.with_body(body))
    }

    /// Runs skill `skill_id` with `input` (JSON text), skipping intent matching.
    pub fn skill(
        mut self,
        skill_id: impl Into<String>,
        input: Option<&str>,
    ) -> Result<Self, Error> {
        let skill_id = skill_id.into();
        validate_id("skill_id", &skill_id)?;
        check_text("skill_id", &skill_id, 32)?;
        if let Some(input) = input {
            check_json_text("skill_input", input)?;
        }
        if let Some(body) = self.body_mut() {
            body.skill_id = Some(skill_id);
            body.skill_input = input.map(str::to_owned);
        }
        Ok(self)
    }

    /// Sets `metadata` (JSON text, at most 255 characters), echoed by get and list.
    pub fn metadata(mut self, json: impl Into<String>) -> Result<Self, Error> {
        let json = json.into();
        check_json_text("metadata", &json)?;
        if let Some(body) = self.body_mut() {
            body.metadata = Some(json);
        }
        Ok(self)
    }
}
