//! Skills of the Aily apps: the record of one skill, and the list / get / start
//! skill endpoints (`apps/{app_id}/skills…`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::FakeAily;
use super::Route;
use super::conv::Call;
use super::page;
use super::reply::{ParamError, Refusal};

/// Longest `global_variable.query` and `input`, in characters.
const MAX_SKILL_TEXT: usize = 40_960;
/// Most `global_variable.files`.
const MAX_SKILL_FILES: usize = 32;
/// Longest `global_variable.channel.variables`.
const MAX_CHANNEL_VARIABLES: usize = 255;

/// One skill of an app.
#[derive(Debug, Clone)]
struct SkillRecord {
    id: String,
    label: String,
    /// The output start answers with; `None`: an echo of what was sent.
    output: Option<String>,
    starts: usize,
}

impl SkillRecord {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "label": self.label,
            "description": format!("The fake skill {}", self.label),
            "samples": [format!("Run {}", self.label)],
            "input_schema": "[]",
            "output_schema": "[]",
        })
    }
}

/// Every app's skills, in the order added.
#[derive(Debug, Default)]
pub(crate) struct Skills {
    apps: HashMap<String, Vec<SkillRecord>>,
}

impl Skills {
    /// Serves one skill call.
    pub(crate) fn handle(&mut self, call: &Call, max_page_size: usize) -> Result<Value, Refusal> {
        match call.route {
            Some(Route::ListSkills) => {
                let items = self
                    .apps
                    .get(&call.app)
                    .map(|skills| skills.iter().map(SkillRecord::to_json).collect())
                    .unwrap_or_default();
                Ok(page::render(call, max_page_size, "skills", items)?)
            }
            Some(Route::GetSkill) => Ok(json!({"skill": self.skill_mut(call)?.to_json()})),
            _ => self.start(call),
        }
    }

    fn skill_mut(&mut self, call: &Call) -> Result<&mut SkillRecord, ParamError> {
        let id = call.item.as_deref().unwrap_or_default();
        self.apps
            .get_mut(&call.app)
            .and_then(|skills| skills.iter_mut().find(|s| s.id == id))
            .ok_or_else(|| ParamError::new("skill_id", id, "skill not found"))
    }

    /// `POST …/skills/{skill_id}/start`: checks the body against the platform's
    /// limits, then runs the skill at once.
    fn start(&mut self, call: &Call) -> Result<Value, Refusal> {
        let variables = match call.body.get("global_variable") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(ParamError::hidden("global_variable", "must be an object").into());
            }
        };
        let query = text(&variables, "global_variable.query", "query", MAX_SKILL_TEXT)?;
        let files = match variables.get("files") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(files)) if files.len() > MAX_SKILL_FILES => {
                return Err(ParamError::hidden("global_variable.files", "too many items").into());
            }
            Some(Value::Array(files)) if files.iter().all(Value::is_string) => files.clone(),
            Some(_) => {
                return Err(ParamError::hidden(
                    "global_variable.files",
                    "must be an array of strings",
                )
                .into());
            }
        };
        let channel_variables = match variables.get("channel") {
            None | Some(Value::Null) => None,
            Some(Value::Object(channel)) => text(
                channel,
                "global_variable.channel.variables",
                "variables",
                MAX_CHANNEL_VARIABLES,
            )?,
            Some(_) => {
                return Err(
                    ParamError::hidden("global_variable.channel", "must be an object").into(),
                );
            }
        };
        json_text("global_variable.channel.variables", channel_variables)?;
        let input = call.body_str("input", MAX_SKILL_TEXT)?;
        json_text("input", input)?;
        let skill = self.skill_mut(call)?;
        skill.starts += 1;
        let output = skill.output.clone().unwrap_or_else(|| {
            json!({
                "skill_id": skill.id,
                "query": query,
                "files": files,
                "variables": channel_variables,
                "input": input,
                "biz_user_id": call.biz_user_id,
            })
            .to_string()
        });
        Ok(json!({"output": output, "status": "success"}))
    }
}

/// An optional string `key` of `map`, at most `max` characters.
fn text<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
    key: &str,
    max: usize,
) -> Result<Option<&'a str>, ParamError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(ParamError::hidden(field, "too long"))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ParamError::hidden(field, "must be a string")),
    }
}

/// A field that must hold JSON text, when sent.
fn json_text(field: &'static str, value: Option<&str>) -> Result<(), ParamError> {
    match value {
        Some(text) if serde_json::from_str::<Value>(text).is_err() => {
            Err(ParamError::hidden(field, "must be JSON text"))
        }
        _ => Ok(()),
    }
}

impl FakeAily {
    /// Adds (or replaces) skill `skill_id` named `label` to Aily app `app_id`: list,
    /// get and start serve it. Start checks the body (`global_variable.query` and
    /// `input` ≤ 40 960 characters, `files` ≤ 32, `channel.variables` ≤ 255, the
    /// JSON texts parse; else 2700001) and answers `{"output", "status":
    /// "success"}`, the output an echo of what was sent (JSON text with `skill_id`,
    /// `query`, `files`, `variables`, `input` and `biz_user_id`) unless
    /// [`set_skill_output`](FakeAily::set_skill_output) says otherwise. An unknown
    /// skill answers 2700001 on `skill_id` (the platform documents no other code).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_skill("spring_1__c", "skill_weather", "Weather");
    /// assert_eq!(fake.skill_starts("spring_1__c", "skill_weather"), Some(0));
    /// assert_eq!(fake.skill_starts("spring_1__c", "skill_nope"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_skill(&self, app_id: &str, skill_id: &str, label: &str) {
        let mut state = self.shared.lock();
        let skills = state.skills.apps.entry(app_id.to_owned()).or_default();
        let record = SkillRecord {
            id: skill_id.to_owned(),
            label: label.to_owned(),
            output: None,
            starts: 0,
        };
        match skills.iter_mut().find(|s| s.id == skill_id) {
            Some(existing) => *existing = record,
            None => skills.push(record),
        }
    }

    /// Makes start answer `output` (sent as is: JSON text, or anything else to see
    /// a client cope) for skill `skill_id` of app `app_id`, if it exists.
    pub fn set_skill_output(&self, app_id: &str, skill_id: &str, output: &str) {
        let mut state = self.shared.lock();
        if let Some(skill) = state
            .skills
            .apps
            .get_mut(app_id)
            .and_then(|skills| skills.iter_mut().find(|s| s.id == skill_id))
        {
            skill.output = Some(output.to_owned());
        }
    }

    /// How many times skill `skill_id` of app `app_id` ran (starts the fake
    /// acted on, replies lost or not); `None` for an unknown skill.
    pub fn skill_starts(&self, app_id: &str, skill_id: &str) -> Option<usize> {
        let state = self.shared.lock();
        let skills = state.skills.apps.get(app_id)?;
        skills.iter().find(|s| s.id == skill_id).map(|s| s.starts)
    }
}
