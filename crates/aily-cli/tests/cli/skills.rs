//! The built `aily` binary's skill commands (`aily skill list|get|start …`)
//! against FakeAily over real TCP: JSON on stdout, `--all`, exit codes.

use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, aily_json, aily_one, assert_api_failure, assert_refused,
    assert_timed_out,
};
use crate::support::fake;
use aily_client::testing::{Fault, Route, ScriptedReply, Times};
use http::Method;
use serde_json::json;

const APP: &str = "spring_skills__c";

fn skill(id: &str) -> serde_json::Value {
    json!({
        "id": id,
        "label": format!("Skill {id}"),
        "description": "what it does",
        "samples": ["try me"],
        "input_schema": "[]",
        "output_schema": "",
    })
}

#[tokio::test]
async fn skill_get_and_list_print_json() {
    let fake = fake().await;
    fake.route(
        Method::GET,
        "/open-apis/aily/v1/apps/:app_id/skills/:skill_id",
        ScriptedReply::ok(json!({"skill": skill("skill_1")})),
    );
    fake.route(
        Method::GET,
        "/open-apis/aily/v1/apps/:app_id/skills",
        ScriptedReply::ok(
            json!({"skills": [skill("skill_1"), skill("skill_2")], "has_more": false}),
        ),
    );
    let got = aily_one(&fake, &["skill", "get", APP, "skill_1"]).await;
    assert_eq!(got, skill("skill_1"));
    let sent = fake.requests().last().unwrap().path.clone();
    assert_eq!(
        sent,
        format!("/open-apis/aily/v1/apps/{APP}/skills/skill_1")
    );

    let listed = aily_json(&fake, &["skill", "list", APP, "--page-size", "7"]).await;
    assert_eq!(listed, vec![skill("skill_1"), skill("skill_2")]);
    let sent = fake.requests().last().unwrap().path.clone();
    assert!(sent.ends_with("/skills?page_size=7"), "{sent}");
}

#[tokio::test]
async fn skill_invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    assert_refused(
        &fake,
        &[
            (&["skill", "list", ".."], "app_id"),
            (&["skill", "list", APP, "--page-size", "0"], "--page-size"),
            (&["skill", "get", APP, ""], "skill_id"),
            (&["skill", "get", "a b", "skill_1"], "app_id"),
            (&["skill", "get", APP], "SKILL_ID"),
        ],
    )
    .await;
}

#[tokio::test]
async fn skill_server_error_exits_1_with_code_and_log_id() {
    let fake = fake().await;
    fake.route(
        Method::GET,
        "/open-apis/aily/v1/apps/:app_id/skills/:skill_id",
        ScriptedReply::error(400, 2700001, "param is invalid"),
    );
    let out = aily_at(&fake, &["skill", "get", APP, "skill_1"]).await;
    assert_api_failure(&fake, &out, 2700001);
    assert!(out.stdout.is_empty());

    fake.route(
        Method::GET,
        "/open-apis/aily/v1/apps/:app_id/skills",
        ScriptedReply::ok(json!({"skills": [], "has_more": false})),
    );
    fake.push_fault(
        Route::Scripted,
        Fault::api_error(429, 99991400, "request trigger frequency limit"),
        Times::Always,
    );
    let out = aily_at(
        &fake,
        &["skill", "list", APP, "--all", "--max-attempts", "1"],
    )
    .await;
    assert_api_failure(&fake, &out, 99991400);
}

#[tokio::test]
async fn skill_timeout_bounds_the_command() {
    let fake = fake().await;
    fake.push_fault(
        Route::Any,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    for args in [
        &["skill", "get", APP, "skill_1", "--timeout", "0.5"][..],
        &["skill", "list", APP, "--all", "--timeout", "0.5"],
    ] {
        let out = aily_at_within(Duration::from_secs(20), &fake, args).await;
        assert_timed_out(&out);
    }
}
