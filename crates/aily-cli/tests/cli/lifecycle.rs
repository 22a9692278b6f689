//! The built `aily` binary's conversation commands (`aily session|message|run …`)
//! against FakeAily over real TCP: JSON on stdout, exit codes, `--all`.

use std::time::Duration;

use crate::runner::{aily_at, aily_json, aily_one, text};
use crate::support::{APP, fake};
use aily_client::testing::{Fault, Route, Times};
use serde_json::Value;

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn every_command_prints_what_it_read_or_made() {
    let fake = fake().await;
    fake.set_run_schedule(Duration::ZERO, Duration::ZERO);

    let session = aily_one(
        &fake,
        &[
            "session",
            "create",
            "--metadata",
            r#"{"ticket":"T-9"}"#,
            "--channel-context",
            r#"{"channel":"cli"}"#,
        ],
    )
    .await;
    let s = id(&session);
    assert!(fake.has_session(&s), "{session}");
    assert_eq!(session["metadata"], r#"{"ticket":"T-9"}"#);
    assert_eq!(session["channel_context"], r#"{"channel":"cli"}"#);
    assert_eq!(aily_one(&fake, &["session", "get", &s]).await, session);

    let create = [
        "message",
        "create",
        &s,
        "--text",
        "**hi**",
        "--content-type",
        "MDX",
        "--idempotent-id",
        "cli-msg-1",
    ];
    let message = aily_one(&fake, &create).await;
    assert_eq!(message["content"], "**hi**");
    assert_eq!(message["content_type"], "MDX");
    // The same idempotent id again is the same message.
    assert_eq!(id(&aily_one(&fake, &create).await), id(&message));
    assert_eq!(fake.session_messages(&s).unwrap().len(), 1);
    let m = id(&message);
    assert_eq!(id(&aily_one(&fake, &["message", "get", &s, &m]).await), m);

    let run = aily_one(
        &fake,
        &[
            "run",
            "create",
            &s,
            "--app",
            APP,
            "--skill",
            "skill_1",
            "--skill-input",
            r#"{"q":1}"#,
        ],
    )
    .await;
    let r = id(&run);
    assert_eq!(run["app_id"], APP);
    let sent = fake.requests().last().unwrap().body.clone();
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(sent["skill_id"], "skill_1");
    assert_eq!(sent["skill_input"], r#"{"q":1}"#);
    assert_eq!(
        aily_one(&fake, &["run", "get", &s, &r]).await["status"],
        "COMPLETED"
    );
    let runs = aily_json(&fake, &["run", "list", &s]).await;
    assert_eq!(runs.iter().map(id).collect::<Vec<_>>(), vec![r.clone()]);

    let answers = aily_json(&fake, &["message", "list", &s, "--run", &r, "--partial"]).await;
    assert!(
        answers
            .iter()
            .any(|m| m["sender"]["sender_type"] == "ASSISTANT"),
        "{answers:?}"
    );
    let listed = fake.requests().last().unwrap().path.clone();
    assert!(listed.contains(&format!("run_id={r}")), "{listed}");
    assert!(listed.contains("with_partial_message=true"), "{listed}");

    // A terminal run is left as it is; --wait returns at once.
    let cancelled = aily_one(&fake, &["run", "cancel", &s, &r, "--wait"]).await;
    assert_eq!(cancelled["status"], "COMPLETED");

    let deleted = aily_one(&fake, &["session", "delete", &s]).await;
    assert_eq!(deleted, serde_json::json!({"id": s, "deleted": true}));
    assert!(!fake.has_session(&s));
}

#[tokio::test]
async fn list_all_walks_three_pages_of_25() {
    let fake = fake().await;
    fake.set_max_page_size(25);
    let messages: Vec<String> = (0..75)
        .map(|i| fake.add_user_message("session_1", &format!("m{i}")))
        .collect();
    let runs: Vec<String> = (0..75).map(|i| format!("run_{i:02}")).collect();
    for r in &runs {
        fake.add_run_with_status("session_1", r, "COMPLETED");
    }

    let all = aily_json(
        &fake,
        &["message", "list", "session_1", "--all", "--page-size", "25"],
    )
    .await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), messages);
    assert_eq!(fake.request_count(Route::ListMessages), 3);
    let all = aily_json(
        &fake,
        &["run", "list", "session_1", "--page-size", "25", "--all"],
    )
    .await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), runs);
    assert_eq!(fake.request_count(Route::ListRuns), 3);

    // Without --all: the first page, and a note on stderr that more follow.
    let out = aily_at(&fake, &["run", "list", "session_1", "--page-size", "25"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 25);
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));
    assert_eq!(fake.request_count(Route::ListRuns), 4);

    // A server that repeats its page token: an error, exit 1, not a loop.
    fake.push_fault(Route::ListMessages, Fault::RepeatPageToken, Times::Always);
    let out = aily_at(
        &fake,
        &["message", "list", "session_1", "--all", "--page-size", "25"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("repeated a page token"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        25,
        "the first page, once"
    );
    assert_eq!(fake.request_count(Route::ListMessages), 5);
}

#[tokio::test]
async fn invalid_input_exits_2_and_sends_nothing() {
    let fake = fake().await;
    let cases: [(&[&str], &str); 16] = [
        (&["session", "get", ".."], "aily_session_id"),
        (&["session", "delete", ""], "aily_session_id"),
        (&["session", "create", "--metadata", "not json"], "metadata"),
        (
            &["session", "create", "--channel-context", "{"],
            "channel_context",
        ),
        (&["message", "create", "", "--text", "x"], "aily_session_id"),
        (
            &[
                "message",
                "create",
                "s",
                "--text",
                "x",
                "--idempotent-id",
                "a b",
            ],
            "idempotent_id",
        ),
        (
            &[
                "message",
                "create",
                "s",
                "--text",
                "x",
                "--content-type",
                "CLIP",
            ],
            "CLIP",
        ),
        (&["message", "create", "s"], "--text"),
        (&["message", "get", "s", "a b"], "aily_message_id"),
        (&["message", "list", "s", "--page-size", "0"], "--page-size"),
        (&["message", "list", "s", "--run", ""], "run_id"),
        (&["run", "create", "s", "--app", ""], "app_id"),
        (
            &["run", "create", "s", "--app", APP, "--skill-input", "{}"],
            "--skill",
        ),
        (
            &[
                "run",
                "create",
                "s",
                "--app",
                APP,
                "--skill",
                "k",
                "--skill-input",
                "[",
            ],
            "skill_input",
        ),
        (&["run", "list", ".."], "aily_session_id"),
        (&["run", "cancel", "s", ""], "run_id"),
    ];
    for (args, expect) in cases {
        let out = aily_at(&fake, args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(fake.request_count(Route::Any), 0, "nothing may be sent");
}

#[tokio::test]
async fn failures_exit_1_with_one_line() {
    let fake = fake().await;
    fake.add_session("session_1");
    fake.set_run_schedule(Duration::ZERO, Duration::ZERO);
    // A lost reply to create run: not sent again, and the line says the run may exist.
    fake.push_fault(Route::CreateRun, Fault::StallBody, Times::Once);
    let out = aily_at(
        &fake,
        &[
            "run",
            "create",
            "session_1",
            "--app",
            APP,
            "--attempt-timeout",
            "0.3",
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("may exist"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(fake.request_count(Route::CreateRun), 1);
    assert_eq!(fake.session_runs("session_1").unwrap().len(), 1);

    // An error envelope: kind, code and log id on one line.
    fake.push_fault(
        Route::ListMessages,
        Fault::api_error(400, 2700001, "param is invalid"),
        Times::Once,
    );
    let out = aily_at(&fake, &["message", "list", "session_1", "--all"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2700001"), "{stderr}");
    let log_id = fake.requests().last().unwrap().log_id.clone().unwrap();
    assert!(stderr.contains(&log_id), "{stderr}");
}
