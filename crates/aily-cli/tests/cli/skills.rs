//! The built `aily` binary's skill commands (`aily skill list|get|start …`)
//! against FakeAily over real TCP: JSON on stdout, `--all`, exit codes.

use std::time::Duration;

use crate::runner::{
    aily_at, aily_at_within, aily_json, aily_one, assert_api_failure, assert_refused,
    assert_timed_out, text,
};
use crate::support::fake;
use aily_client::testing::{Fault, Route, Times};
use serde_json::{Value, json};

const APP: &str = "spring_skills__c";

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn skill_list_get_and_start_print_json() {
    let fake = fake().await;
    let ids: Vec<String> = (0..5).map(|i| format!("skill_{i}")).collect();
    for (i, skill) in ids.iter().enumerate() {
        fake.add_skill(APP, skill, &format!("Skill {i}"));
    }

    let all = aily_json(&fake, &["skill", "list", APP, "--page-size", "2", "--all"]).await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), ids);
    assert_eq!(fake.request_count(Route::ListSkills), 3);
    // Without --all: the first page, and a note on stderr that more follow.
    let out = aily_at(&fake, &["skill", "list", APP, "--page-size", "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));

    let skill = aily_one(&fake, &["skill", "get", APP, "skill_3"]).await;
    assert_eq!(skill, all[3]);
    assert_eq!(skill["label"], "Skill 3");

    fake.set_skill_output(APP, "skill_1", r#"{"answer":42}"#);
    let started = aily_one(
        &fake,
        &[
            "skill",
            "start",
            APP,
            "skill_1",
            "--query",
            "what is it?",
            "--input",
            r#"{"custom_string":"x"}"#,
            "--file",
            "file_a",
            "--file",
            "file_b",
        ],
    )
    .await;
    assert_eq!(
        started,
        json!({"output": r#"{"answer":42}"#, "status": "success"})
    );
    let sent: Value = serde_json::from_slice(&fake.requests().last().unwrap().body).unwrap();
    assert_eq!(sent["global_variable"]["query"], "what is it?");
    assert_eq!(
        sent["global_variable"]["files"],
        json!(["file_a", "file_b"])
    );
    assert_eq!(sent["input"], r#"{"custom_string":"x"}"#);
    assert_eq!(fake.skill_starts(APP, "skill_1"), Some(1));
}

#[tokio::test]
async fn skill_invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    let too_many: Vec<&str> = (0..33).flat_map(|_| ["--file", "f"]).collect();
    let many = [&["skill", "start", APP, "skill_1"][..], &too_many].concat();
    assert_refused(
        &fake,
        &[
            (&["skill", "list", ".."], "app_id"),
            (&["skill", "list", APP, "--page-size", "0"], "--page-size"),
            (&["skill", "get", APP, ""], "skill_id"),
            (&["skill", "get", "a b", "skill_1"], "app_id"),
            (&["skill", "get", APP], "SKILL_ID"),
            (
                &["skill", "start", APP, "s".repeat(33).as_str()],
                "skill_id",
            ),
            (&["skill", "start", APP, "skill_1", "--input", "{"], "input"),
            (
                &["skill", "start", APP, "skill_1", "--input", "not json"],
                "input",
            ),
            (
                &["skill", "start", APP, "skill_1", "--file", "a b"],
                "files",
            ),
            (&many, "files"),
        ],
    )
    .await;
}

#[tokio::test]
async fn skill_server_errors_exit_1_with_code_and_log_id() {
    let fake = fake().await;
    fake.add_skill(APP, "skill_1", "One");
    for (route, args) in [
        (Route::GetSkill, &["skill", "get", APP, "skill_1"][..]),
        (Route::ListSkills, &["skill", "list", APP, "--all"]),
        (Route::StartSkill, &["skill", "start", APP, "skill_1"]),
    ] {
        fake.push_fault(
            route,
            Fault::api_error(400, 2700001, "param is invalid"),
            Times::Once,
        );
        let out = aily_at(&fake, args).await;
        assert_api_failure(&fake, &out, 2700001);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A start whose reply is lost is not sent again: the skill may have run.
    fake.push_fault(Route::StartSkill, Fault::ResetAfterHandling, Times::Once);
    let out = aily_at(&fake, &["skill", "start", APP, "skill_1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fake.skill_starts(APP, "skill_1"), Some(1));
}

#[tokio::test]
async fn skill_timeout_bounds_the_command() {
    let fake = fake().await;
    fake.add_skill(APP, "skill_1", "One");
    fake.push_fault(
        Route::Any,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    for args in [
        &["skill", "get", APP, "skill_1", "--timeout", "0.5"][..],
        &["skill", "list", APP, "--all", "--timeout", "0.5"],
        &["skill", "start", APP, "skill_1", "--timeout", "0.5"],
    ] {
        let out = aily_at_within(Duration::from_secs(20), &fake, args).await;
        assert_timed_out(&out);
    }
}
