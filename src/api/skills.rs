//! Skills of an Aily app: [`GetSkillRequest`] reads one (`GET
//! /open-apis/aily/v1/apps/:app_id/skills/:skill_id`), [`ListSkillsRequest`] lists
//! them a page at a time (`GET /open-apis/aily/v1/apps/:app_id/skills`),
//! [`StartSkillRequest`] runs one and answers with its output (`POST
//! /open-apis/aily/v1/apps/:app_id/skills/:skill_id/start`). The model is
//! lenient: every field may be missing, and fields this version does not know are
//! ignored.

use serde::{Deserialize, Serialize};

use crate::api::paginate::{ListEndpoint, ListResponse, PageItem};
use crate::api::request::{
    ApiRequest, Endpoint, check_json_text, check_json_text_within, check_text, validate_id,
};
use crate::api::wire::{json_text, wire_enum};
use crate::error::Error;

crate::operation! {
    @target "aily_client::skills";
    /// Reads one skill of an app.
    pub GetSkill = "aily.skill.get", GET "/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}"
}

/// A skill of an Aily app. Both schemas are JSON text (an array of `{name, type,
/// required, defaultValue, description}`), empty for the built-in skills.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Skill {
    /// The skill's ID (`skill_xxx`).
    pub id: String,
    /// Its name.
    pub label: String,
    /// What it does.
    pub description: String,
    /// Sample questions that trigger it.
    pub samples: Vec<String>,
    /// Its input variables, as JSON text.
    pub input_schema: String,
    /// Its output variables, as JSON text.
    pub output_schema: String,
}

impl PageItem for Skill {
    const LIST_FIELD: &'static str = "skills";
}

/// The reply's `data`: the skill.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GetSkillResponse {
    /// The skill.
    pub skill: Skill,
}

impl Endpoint for GetSkill {
    type Response = GetSkillResponse;
    type Body = ();
}

/// `GET /open-apis/aily/v1/apps/:app_id/skills/:skill_id`.
///
/// ```
/// use aily_client::skills::GetSkillRequest;
///
/// let req = GetSkillRequest::new("spring_1__c", "skill_a#1")?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/apps/spring_1__c/skills/skill_a%231");
/// assert!(GetSkillRequest::new("spring_1__c", "").unwrap_err().to_string().contains("skill_id"));
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type GetSkillRequest = ApiRequest<GetSkill>;

impl GetSkillRequest {
    /// Read skill `skill_id` of app `app_id` (validated like every path ID).
    pub fn new(app_id: impl AsRef<str>, skill_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[app_id.as_ref(), skill_id.as_ref()])
    }
}

crate::operation! {
    @target "aily_client::skills";
    /// Lists an app's skills, a page at a time.
    pub ListSkills = "aily.skill.list", GET "/open-apis/aily/v1/apps/{app_id}/skills"
}

impl Endpoint for ListSkills {
    type Response = ListResponse<Skill>;
    type Body = ();
}

impl ListEndpoint for ListSkills {
    type Item = Skill;
}

/// `GET /open-apis/aily/v1/apps/:app_id/skills`: one page of an app's skills
/// ([`page_size`](ApiRequest::page_size), [`page_token`](ApiRequest::page_token));
/// [`paginate::pages`](crate::api::paginate::pages) follows every page.
///
/// ```
/// use aily_client::skills::ListSkillsRequest;
///
/// let req = ListSkillsRequest::new("spring_1__c")?.page_size(50)?;
/// assert_eq!(aily_client::AilyRequest::to_http(&req).uri(), "/open-apis/aily/v1/apps/spring_1__c/skills?page_size=50");
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type ListSkillsRequest = ApiRequest<ListSkills>;

impl ListSkillsRequest {
    /// The first page of app `app_id`'s skills (the server's page size).
    pub fn new(app_id: impl AsRef<str>) -> Result<Self, Error> {
        ApiRequest::with_ids(&[app_id.as_ref()])
    }
}

crate::operation! {
    @target "aily_client::skills";
    /// Runs one skill of an app, synchronously.
    pub StartSkill = "aily.skill.start", POST "/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}/start"
}

/// The longest `global_variable.query` and `input`, in characters.
pub const MAX_SKILL_TEXT_CHARS: usize = 40_960;
/// The most `global_variable.files` ids.
pub const MAX_SKILL_FILES: usize = 32;

/// The body of start skill: `{global_variable, input?}`.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct StartSkillBody {
    /// The skill's global variables.
    pub global_variable: GlobalVariable,
    /// The skill's custom input, JSON text (at most 40 960 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// `global_variable` of start skill.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct GlobalVariable {
    /// The text that triggers the skill (at most 40 960 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// File ids for nodes that consume files (at most 32).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The channel's custom variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<SkillChannel>,
}

/// `global_variable.channel` of start skill.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SkillChannel {
    /// Custom variables of a Workflow skill, JSON text (at most 255 characters).
    pub variables: String,
}

wire_enum! {
    /// The status of a skill's run, as start skill answers it (`success` is the
    /// only one documented). Unknown values are kept.
    ///
    /// ```
    /// use aily_client::skills::SkillRunStatus;
    /// let s: SkillRunStatus = serde_json::from_str("\"success\"").unwrap();
    /// assert_eq!(s, SkillRunStatus::Success);
    /// let s: SkillRunStatus = serde_json::from_str("\"partial\"").unwrap();
    /// assert_eq!(s.as_str(), "partial");
    /// ```
    pub enum SkillRunStatus ("a skill run status string") {
        /// `success`: the skill ran; its output is in the reply.
        Success = "success",
    }
}

/// The reply's `data` of start skill: the skill's output and status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct StartSkillResponse {
    /// The output, JSON text as the Workflow's end node shapes it (see
    /// [`output_json`](StartSkillResponse::output_json)).
    pub output: String,
    /// How the run went.
    pub status: SkillRunStatus,
}

impl StartSkillResponse {
    /// Parses [`output`](StartSkillResponse::output); `None` when it is empty.
    ///
    /// ```
    /// let reply: aily_client::skills::StartSkillResponse =
    ///     serde_json::from_str(r#"{"output":"{\"answer\":42}","status":"success"}"#).unwrap();
    /// assert_eq!(reply.output_json().unwrap().unwrap()["answer"], 42);
    /// ```
    pub fn output_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        json_text(Some(self.output.as_str()).filter(|s| !s.is_empty()))
    }
}

impl Endpoint for StartSkill {
    type Response = StartSkillResponse;
    type Body = StartSkillBody;
    /// No idempotency key: a blind retry would run the skill twice.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] = &[(2700001, "param is invalid")];
}

/// `POST /open-apis/aily/v1/apps/:app_id/skills/:skill_id/start`: runs the skill and
/// answers with its output. The reply takes as long as the skill runs: give the call
/// its own timeout ([`with_overall_timeout`](crate::AilyRequest::with_overall_timeout)).
/// Not retried after it may have reached the server (no idempotency key: the skill
/// would run twice), unless the caller opts in with
/// [`with_idempotent(true)`](crate::AilyRequest::with_idempotent); a rate-limit
/// refusal is still retried (the server did not act). The end user goes in
/// [`with_biz_user_id`](crate::AilyRequest::with_biz_user_id).
///
/// ```
/// use aily_client::skills::StartSkillRequest;
///
/// let req = StartSkillRequest::new("spring_1__c", "skill_weather")?
///     .query_text("Will it rain in Hangzhou?")?
///     .files(["file_1"])?
///     .channel_variables(r#"{"city":"Hangzhou"}"#)?
///     .input(r#"{"custom_string":"x"}"#)?;
/// assert_eq!(req.path(), "/open-apis/aily/v1/apps/spring_1__c/skills/skill_weather/start");
/// assert!(StartSkillRequest::new("spring_1__c", "s").unwrap().input("not json").is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type StartSkillRequest = ApiRequest<StartSkill>;

impl StartSkillRequest {
    /// Start skill `skill_id` (at most 32 characters) of app `app_id` (at most 64),
    /// with no variables yet.
    pub fn new(app_id: impl AsRef<str>, skill_id: impl AsRef<str>) -> Result<Self, Error> {
        let (app_id, skill_id) = (app_id.as_ref(), skill_id.as_ref());
        validate_id("app_id", app_id)?;
        check_text("app_id", app_id, 64)?;
        validate_id("skill_id", skill_id)?;
        check_text("skill_id", skill_id, 32)?;
        Ok(ApiRequest::with_ids(&[app_id, skill_id])?.with_body(StartSkillBody::default()))
    }

    /// Sets `global_variable.query`, the text that triggers the skill (at most
    /// 40 960 characters).
    pub fn query_text(mut self, query: impl Into<String>) -> Result<Self, Error> {
        let query = query.into();
        check_text("query", &query, MAX_SKILL_TEXT_CHARS)?;
        if let Some(body) = self.body_mut() {
            body.global_variable.query = Some(query);
        }
        Ok(self)
    }

    /// Sets `global_variable.files`: file ids (at most 32, each a valid id).
    pub fn files<S: Into<String>>(
        mut self,
        files: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        let files: Vec<String> = files
            .into_iter()
            .take(MAX_SKILL_FILES + 1)
            .map(Into::into)
            .collect();
        if files.len() > MAX_SKILL_FILES {
            return Err(Error::invalid_input(format!(
                "invalid files: at most {MAX_SKILL_FILES} are allowed"
            )));
        }
        for file in &files {
            validate_id("files", file)?;
        }
        if let Some(body) = self.body_mut() {
            body.global_variable.files = files;
        }
        Ok(self)
    }

    /// Sets `global_variable.channel.variables`: a Workflow skill's custom
    /// variables, JSON text (at most 255 characters).
    pub fn channel_variables(mut self, json: impl Into<String>) -> Result<Self, Error> {
        let variables = json.into();
        check_json_text("channel.variables", &variables)?;
        if let Some(body) = self.body_mut() {
            body.global_variable.channel = Some(SkillChannel { variables });
        }
        Ok(self)
    }

    /// Sets `input`: the skill's custom input, JSON text (at most 40 960 characters).
    pub fn input(mut self, json: impl Into<String>) -> Result<Self, Error> {
        let input = json.into();
        check_json_text_within("input", &input, MAX_SKILL_TEXT_CHARS)?;
        if let Some(body) = self.body_mut() {
            body.input = Some(input);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AilyRequest;

    #[test]
    fn start_body_sends_only_what_is_set() {
        let req = StartSkillRequest::new("spring_1__c", "skill_1")
            .unwrap()
            .query_text("hi")
            .unwrap();
        let http = req.to_http();
        assert_eq!(http.method(), http::Method::POST);
        let body: serde_json::Value =
            serde_json::from_slice(&<StartSkill as Endpoint>::encode_body(req.body().unwrap()))
                .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"global_variable": {"query": "hi"}})
        );
    }

    #[test]
    fn start_limits_are_checked() {
        let req = || StartSkillRequest::new("spring_1__c", "skill_1").unwrap();
        assert!(StartSkillRequest::new("a".repeat(65), "s").is_err());
        assert!(StartSkillRequest::new("a", "s".repeat(33)).is_err());
        assert!(req().query_text("q".repeat(MAX_SKILL_TEXT_CHARS)).is_ok());
        assert!(
            req()
                .query_text("q".repeat(MAX_SKILL_TEXT_CHARS + 1))
                .is_err()
        );
        assert!(req().files((0..33).map(|i| format!("f{i}"))).is_err());
        assert!(req().files((0..32).map(|i| format!("f{i}"))).is_ok());
        assert!(req().files(["a b"]).is_err());
        assert!(
            req()
                .channel_variables(format!("\"{}\"", "v".repeat(254)))
                .is_err()
        );
        assert!(req().channel_variables("{").is_err());
        assert!(
            req()
                .input(format!("\"{}\"", "v".repeat(MAX_SKILL_TEXT_CHARS)))
                .is_err()
        );
    }
}
