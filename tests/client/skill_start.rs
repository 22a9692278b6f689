//! Start skill over real TCP to `FakeAily`'s skills: the body as sent and the
//! output as answered, the endpoint's error meaning, inputs refused before sending,
//! and its retry class (a lost reply is never re-sent unless the caller opts in; a
//! rate-limit refusal is). List and get are served from the fake's state too.
#![cfg(feature = "testing")]

use aily_client::skills::{ListSkillsRequest, SkillRunStatus, StartSkillRequest};
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{AilyRequest, Client, ErrorKind};
use futures_util::StreamExt;

use crate::support::{self, bounded};

const TOKEN: &str = "t-skill-start";
const APP: &str = "spring_skills__c";
const SKILL: &str = "skill_weather";

async fn setup() -> (FakeAily, Client) {
    let fake = support::fake_for(TOKEN).await;
    fake.add_skill(APP, SKILL, "Weather");
    let client = support::tenant_client(&fake, TOKEN, |b| b);
    (fake, client)
}

fn request() -> StartSkillRequest {
    StartSkillRequest::new(APP, SKILL)
        .unwrap()
        .query_text("Will it rain?")
        .unwrap()
}

#[tokio::test]
async fn start_skill_sends_its_variables_and_reads_the_output() {
    bounded(async {
        let (fake, client) = setup().await;
        let request = request()
            .files(["file_1", "file_2"])
            .unwrap()
            .channel_variables(r#"{"city":"Hangzhou"}"#)
            .unwrap()
            .input(r#"{"custom_string":"x"}"#)
            .unwrap()
            .with_biz_user_id("ou_end_user")
            .unwrap();
        let reply = client.start_skill(request).await.unwrap();
        assert_eq!(reply.status, SkillRunStatus::Success);
        let output = reply.output_json().expect("an output").unwrap();
        assert_eq!(output["skill_id"], SKILL);
        assert_eq!(output["query"], "Will it rain?");
        assert_eq!(output["files"], serde_json::json!(["file_1", "file_2"]));
        assert_eq!(output["variables"], r#"{"city":"Hangzhou"}"#);
        assert_eq!(output["input"], r#"{"custom_string":"x"}"#);
        assert_eq!(output["biz_user_id"], "ou_end_user");
        assert_eq!(fake.skill_starts(APP, SKILL), Some(1));
        assert_eq!(fake.request_count(Route::StartSkill), 1);
        let sent = fake.requests().pop().unwrap();
        assert_eq!(
            sent.path,
            format!("/open-apis/aily/v1/apps/{APP}/skills/{SKILL}/start")
        );
    })
    .await;
}

#[tokio::test]
async fn start_skill_keeps_a_non_json_output_as_text() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.set_skill_output(APP, SKILL, "plain words");
        let reply = client.start_skill(request()).await.unwrap();
        assert_eq!(reply.output, "plain words");
        assert!(
            reply.output_json().unwrap().is_err(),
            "not JSON: an error, not a panic"
        );
    })
    .await;
}

#[tokio::test]
async fn start_skill_errors_say_the_endpoints_meaning_and_are_not_retried() {
    bounded(async {
        let (fake, client) = setup().await;
        let unknown = StartSkillRequest::new(APP, "skill_missing").unwrap();
        let err = client.start_skill(unknown).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api);
        assert_eq!(err.code(), Some(2700001));
        assert!(err.to_string().contains("param is invalid"), "{err}");
        assert_eq!(fake.request_count(Route::StartSkill), 1);
    })
    .await;
}

#[tokio::test]
async fn invalid_start_inputs_send_nothing() {
    bounded(async {
        let (fake, _client) = setup().await;
        let errors = [
            StartSkillRequest::new("", SKILL).unwrap_err(),
            StartSkillRequest::new(APP, "s".repeat(33)).unwrap_err(),
            request().query_text("q".repeat(40_961)).unwrap_err(),
            request()
                .files((0..33).map(|i| format!("file_{i}")))
                .unwrap_err(),
            request().channel_variables("{not json").unwrap_err(),
            request().input("x".repeat(10)).unwrap_err(),
            request().with_biz_user_id("a\nb").unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        assert_eq!(fake.request_count(Route::Any), 0);
    })
    .await;
}

#[tokio::test]
async fn a_lost_start_reply_is_sent_once_unless_the_caller_opts_in() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.push_fault(Route::StartSkill, Fault::ResetAfterHandling, Times::Once);
        let err = client.start_skill(request()).await.unwrap_err();
        assert!(err.may_have_acted(), "{err}");
        assert_eq!(fake.request_count(Route::StartSkill), 1, "not sent again");
        assert_eq!(fake.skill_starts(APP, SKILL), Some(1), "the skill did run");

        fake.push_fault(Route::StartSkill, Fault::ResetAfterHandling, Times::Once);
        let reply = client
            .start_skill(request().with_idempotent(true))
            .await
            .unwrap();
        assert_eq!(reply.status, SkillRunStatus::Success);
        assert_eq!(fake.request_count(Route::StartSkill), 3, "re-sent once");
        assert_eq!(fake.skill_starts(APP, SKILL), Some(3));
    })
    .await;
}

#[tokio::test]
async fn a_rate_limited_start_is_retried_the_server_did_not_act() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.push_fault(Route::StartSkill, Fault::rate_limited(1), Times::Once);
        let reply = client.start_skill(request()).await.unwrap();
        assert_eq!(reply.status, SkillRunStatus::Success);
        assert_eq!(fake.request_count(Route::StartSkill), 2);
        assert_eq!(fake.skill_starts(APP, SKILL), Some(1), "ran once");
    })
    .await;
}

#[tokio::test]
async fn skills_are_listed_and_read_from_the_fakes_state() {
    bounded(async {
        let (fake, client) = setup().await;
        fake.add_skill(APP, "skill_news", "News");
        fake.add_skill(APP, "skill_stocks", "Stocks");
        let first = ListSkillsRequest::new(APP).unwrap().page_size(2).unwrap();
        let page = client.list_skills(first.clone()).await.unwrap();
        assert_eq!(page.page.items.len(), 2);
        assert!(page.page.has_more);
        let skills: Vec<_> = client.skills_stream(first).collect().await;
        let ids: Vec<String> = skills.into_iter().map(|s| s.unwrap().id).collect();
        assert_eq!(ids, [SKILL, "skill_news", "skill_stocks"]);
        assert_eq!(fake.request_count(Route::ListSkills), 3);
        let got = client.get_skill(APP, "skill_news").await.unwrap();
        assert_eq!(got.skill.label, "News");
    })
    .await;
}
