//! Skills of an Aily app: [`GetSkillRequest`] reads one (`GET
//! /open-apis/aily/v1/apps/:app_id/skills/:skill_id`), [`ListSkillsRequest`] lists
//! them a page at a time (`GET /open-apis/aily/v1/apps/:app_id/skills`). The model is
//! lenient: every field may be missing, and fields this version does not know are
//! ignored.

use serde::Deserialize;

use crate::api::paginate::{ListEndpoint, ListResponse, PageItem};
use crate::api::request::{ApiRequest, Endpoint};
use crate::error::Error;

crate::operation! {
    @target "aily_client::skills";
    /// Reads one skill of an app.
    pub GetSkill = "aily.skill.get", GET "/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}"
}

/// A skill of an Aily app. Both schemas are JSON text (an array of `{name, type,
/// required, defaultValue, description}`), empty for the built-in skills.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
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
