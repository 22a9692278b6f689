//! `aily ask`, the built binary against FakeAily over real TCP: the answer as JSON
//! lines into a pipe; SIGINT mid-run cancels the run and exits 130.
#![cfg(all(feature = "cli", feature = "testing"))]

use std::process::Stdio;
use std::time::Duration;

use aily_client::testing::{FakeAily, Route};
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "t-cli-ask";

fn aily(args: &[&str], base: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.args(args)
        .args(["--base-url", base])
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("FEISHU_") || k.starts_with("AILY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN);
    cmd
}

#[tokio::test]
async fn ask_prints_json_lines_then_the_answer() {
    let fake = FakeAily::start().await.unwrap();
    fake.add_tenant_token(TOKEN);
    fake.set_run_schedule(Duration::from_millis(20), Duration::from_millis(600));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        aily(
            &["ask", "--app", "spring_cli__c", "what is aily"],
            &fake.base_url(),
        )
        .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(events[0]["event"], "started");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "done");
    assert_eq!(last["run"]["status"], "COMPLETED");
    assert_eq!(last["text"], "This is the fake answer to: what is aily");
    let deltas: String = events
        .iter()
        .filter(|e| e["event"] == "delta")
        .map(|e| e["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, "This is the fake answer to: what is aily");

    // --session goes on in the same session.
    let session = last["session_id"].as_str().unwrap().to_owned();
    let out = aily(
        &[
            "ask",
            "--app",
            "spring_cli__c",
            "--session",
            &session,
            "more",
        ],
        &fake.base_url(),
    )
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.request_count(Route::CreateSession), 1);
}

#[tokio::test]
async fn sigint_mid_run_cancels_the_run_and_exits_130() {
    let fake = FakeAily::start().await.unwrap();
    fake.add_tenant_token(TOKEN);
    fake.add_session("session_cli");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(60));
    let mut child = aily(
        &[
            "ask",
            "--app",
            "spring_cli__c",
            "--session",
            "session_cli",
            "hello",
            "--timeout",
            "50",
        ],
        &fake.base_url(),
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the answer has started to stream.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("a line before the end");
            if line.contains(r#""event":"delta""#) {
                break;
            }
        }
    })
    .await
    .expect("the answer streams");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let run = &fake.session_runs("session_cli").unwrap()[0];
    assert_eq!(run.status.as_str(), "CANCELLED");
    assert_eq!(fake.request_count(Route::CancelRun), 1);
}
