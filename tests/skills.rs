//! The skill endpoints over real TCP to `FakeAily`'s scripted routes: the typed
//! reply through the client's whole stack, the lenient model, an API error, and the
//! operation span's IDs.
#![cfg(feature = "testing")]

mod common;

use aily_client::skills::{GetSkillRequest, Skill};
use aily_client::testing::{FakeAily, Route, ScriptedReply};
use aily_client::{Client, Credentials, ErrorKind};
use common::trace::{field, recorder};

const PATH: &str = "/open-apis/aily/v1/apps/spring_1__c/skills/skill_weather";
const BROKEN: &str = "/open-apis/aily/v1/apps/spring_1__c/skills/skill_broken";

async fn setup() -> (FakeAily, Client) {
    let fake = FakeAily::start().await.unwrap();
    fake.add_tenant_token("t-skills");
    let client = Client::builder()
        .base_url(fake.base_url())
        .credentials(Credentials::tenant_token("t-skills"))
        .build()
        .unwrap();
    (fake, client)
}

#[tokio::test]
async fn get_skill_reads_the_skill_leniently() {
    recorder();
    let (fake, client) = setup().await;
    fake.route(
        http::Method::GET,
        PATH,
        ScriptedReply::ok(serde_json::json!({"skill": {
            "id": "skill_weather",
            "label": "Weather",
            "description": "Tells the weather",
            "samples": ["Will it rain?"],
            "input_schema": "[]",
            "a_field_from_the_future": 1
        }})),
    );
    let reply = client
        .call(GetSkillRequest::new("spring_1__c", "skill_weather").unwrap())
        .await
        .unwrap();
    let skill: &Skill = &reply.skill;
    assert_eq!(
        (
            skill.id.as_str(),
            skill.label.as_str(),
            skill.description.as_str()
        ),
        ("skill_weather", "Weather", "Tells the weather")
    );
    assert_eq!(skill.samples, ["Will it rain?"]);
    assert_eq!(skill.input_schema, "[]");
    assert_eq!(skill.output_schema, "", "missing: empty");
    assert_eq!(fake.request_count(Route::Scripted), 1);

    let store = recorder().0.lock().unwrap();
    let op = store
        .spans
        .iter()
        .find(|s| s.name == "aily.skill.get" && field(s, "aily.skill_id") == Some("skill_weather"))
        .expect("the operation span");
    assert_eq!(field(op, "aily.app_id"), Some("spring_1__c"));
    assert_eq!(field(op, "aily.skill_id"), Some("skill_weather"));
    assert!(field(op, "feishu.log_id").is_some());
}

#[tokio::test]
async fn get_skill_errors_are_the_crates_errors() {
    let (fake, client) = setup().await;
    fake.route(
        http::Method::GET,
        BROKEN,
        ScriptedReply::error(400, 2700001, "param is invalid"),
    );
    let err = client
        .call(GetSkillRequest::new("spring_1__c", "skill_broken").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.code(), Some(2700001));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(err.log_id().is_some());
    // Never retried: a 4xx with a code.
    assert_eq!(fake.request_count(Route::Scripted), 1);
}
