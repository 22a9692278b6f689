//! The skill endpoints over real TCP to `FakeAily`'s scripted routes: the typed
//! reply through the client's whole stack, the lenient model, an API error, and the
//! operation span's IDs.
#![cfg(feature = "testing")]

use crate::support::trace::{field, recorder};
use aily_client::skills::{GetSkillRequest, ListSkillsRequest, Skill};
use aily_client::testing::{FakeAily, Route, ScriptedReply};
use aily_client::{Client, ErrorKind};

use crate::support;

const PATH: &str = "/open-apis/aily/v1/apps/spring_1__c/skills/skill_weather";
const BROKEN: &str = "/open-apis/aily/v1/apps/spring_1__c/skills/skill_broken";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for("t-skills").await;
    let client = support::tenant_client(&fake, "t-skills", |b| b);
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

#[tokio::test]
async fn list_skills_reads_a_page_of_skills_through_the_stack() {
    let (fake, client) = setup().await;
    fake.route(
        http::Method::GET,
        "/open-apis/aily/v1/apps/spring_1__c/skills",
        ScriptedReply::ok(serde_json::json!({
            "skills": [
                {"id": "skill_weather", "label": "Weather"},
                {"id": "skill_news", "a_field_from_the_future": true}
            ],
            "has_more": "false"
        })),
    );
    let request = ListSkillsRequest::new("spring_1__c")
        .unwrap()
        .page_size(2)
        .unwrap();
    let pages = aily_client::paginate::pages(client.service::<ListSkillsRequest>(), request);
    let skills: Vec<Skill> = futures_util::StreamExt::collect::<Vec<_>>(pages)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: Vec<&str> = skills.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["skill_weather", "skill_news"]);
    assert_eq!(skills[0].label, "Weather");
    let seen = fake.requests();
    assert_eq!(seen.len(), 1, "one page: has_more is false");
    assert_eq!(
        seen[0].path,
        "/open-apis/aily/v1/apps/spring_1__c/skills?page_size=2"
    );
}

#[tokio::test]
async fn list_skills_of_an_invalid_app_sends_nothing() {
    let (fake, _client) = setup().await;
    let err = ListSkillsRequest::new("").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("app_id"), "{err}");
    assert!(
        ListSkillsRequest::new("spring_1__c")
            .unwrap()
            .page_size(0)
            .is_err()
    );
    assert!(fake.requests().is_empty());
}
